# Builds the agentledger binary into a small image. The image runs as an
# unprivileged user and keeps its keys and (for SQLite) its ledger in /data.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/agentledger ./cmd/agentledger

FROM alpine:3.22
RUN adduser -D -u 10001 agentledger && mkdir /data /certs && chown agentledger /data /certs
COPY --from=build /out/agentledger /usr/local/bin/agentledger
USER agentledger
VOLUME /data
EXPOSE 4317 4318 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD wget -qO- http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["agentledger"]
CMD ["serve", "--data-dir", "/data", "--otlp-grpc-addr", "0.0.0.0:4317", "--otlp-http-addr", "0.0.0.0:4318", "--http-addr", "0.0.0.0:8080"]
