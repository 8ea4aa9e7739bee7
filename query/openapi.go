package query

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the OpenAPI 3 document of the API, served at
// /v1/openapi.json. A test keeps it true: it lists exactly the routes the
// server registers, with the role each needs, and the fields of every
// answer.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, OpenAPI)
}
