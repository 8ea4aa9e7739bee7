package ingest

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/agentledger/agentledger/approval"
	"github.com/agentledger/agentledger/ledger"
)

// LoadApprovalSigners reads an allowed-signers file (ssh-keygen's
// format) of the keys approvers sign approvals with.
func LoadApprovalSigners(p string) (*approval.AllowedSigners, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("approval signers: %w", err)
	}
	defer f.Close()
	s, err := approval.ParseAllowedSigners(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// verifyApprovals verifies the signature of every approval entry with v
// (SSH signatures or JWS) and records the result in the entry's receiver-set attributes
// (approval.AttrVerified, AttrStatus, AttrKey, AttrSigner), so that it is
// in the leaf. The statement is read from the entry's approval.*
// attributes; an approval whose statement cannot be read is malformed.
// Whether the action performed later matches is a question for the query
// side, which sees both.
func verifyApprovals(v *approval.Verifier, entries []ledger.Entry) {
	for i := range entries {
		e := &entries[i]
		if e.Kind != ledger.KindApproval {
			continue
		}
		get := func(k string) string { v, _ := e.Attr(k); return v }
		st := approval.Statement{
			Approver: get(approval.AttrApprover), Action: get(approval.AttrAction), Target: get(approval.AttrTarget),
			Credential: get(approval.AttrCredential), Run: get(approval.AttrRun),
		}
		var res approval.Result
		if exp, err := time.Parse(time.RFC3339, get(approval.AttrExpiresAt)); err != nil && get(approval.AttrSignature) != "" {
			res = approval.Result{Status: approval.StatusMalformed}
		} else {
			st.Expires = exp
			res = v.Verify(st, get(approval.AttrSignature), e.Start, time.Time{})
		}
		verified := "false"
		if res.Verified() {
			verified = "true"
		}
		e.Attrs = append(e.Attrs, ledger.Attr{Key: approval.AttrVerified, Value: verified}, ledger.Attr{Key: approval.AttrStatus, Value: res.Status})
		if res.Key != "" {
			e.Attrs = append(e.Attrs, ledger.Attr{Key: approval.AttrKey, Value: res.Key})
		}
		if res.Signer != "" {
			e.Attrs = append(e.Attrs, ledger.Attr{Key: approval.AttrSigner, Value: res.Signer})
		}
	}
}

// loadApprovers reads the approvers' keys the config names: the
// allowed-signers file and the JWKS (a URL is then refreshed until
// Shutdown). It returns nil when neither is configured.
func (r *ledgerReceiver) loadApprovers(ctx context.Context) (*approval.Verifier, error) {
	if r.cfg.ApprovalSignersFile == "" && r.cfg.ApprovalJWKS == "" {
		return nil, nil
	}
	v := &approval.Verifier{}
	var err error
	if r.cfg.ApprovalSignersFile != "" {
		if v.SSH, err = LoadApprovalSigners(r.cfg.ApprovalSignersFile); err != nil {
			return nil, err
		}
	}
	if r.cfg.ApprovalJWKS != "" {
		if v.JWKS, err = approval.NewJWKSSource(ctx, r.cfg.ApprovalJWKS, approval.JWKSOptions{OnError: func(err error) {
			r.set.Logger.Warn("approval JWKS refresh failed; the last keys stay in use", zap.Error(err))
		}}); err != nil {
			return nil, err
		}
		run, stop := context.WithCancel(context.WithoutCancel(ctx))
		r.stopJWKS = stop
		go v.JWKS.Run(run)
	}
	return v, nil
}
