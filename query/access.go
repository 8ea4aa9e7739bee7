package query

import (
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/agentledger/agentledger/ledger"
)

// Attributes of an access entry.
const (
	AttrAccessActor     = "access.actor"      // the name of the token that read
	AttrAccessRole      = "access.role"       // its role
	AttrAccessPath      = "access.path"       // the request path, escaped
	AttrAccessEntries   = "access.entries"    // the indices whose content was returned
	AttrAccessRequestID = "access.request_id" // the request ID, as logged
)

// maxAccessList bounds the access.entries value of one access entry, well
// under ledger.MaxLeafSize; a longer list is split over several entries
// appended together.
const maxAccessList = 32 << 10

// maxAccessPath bounds the recorded request path.
const maxAccessPath = 1024

// recordAccess appends the access entry that records that the request's
// token read the content of the entries at indices, and waits until it is
// committed (ledger.Log.AppendNow).
func (s *Server) recordAccess(c echo.Context, indices []uint64) error {
	t := token(c)
	rid, _ := c.Get(ctxRequestID).(string)
	path := c.Request().URL.EscapedPath()
	if len(path) > maxAccessPath {
		path = path[:maxAccessPath]
	}
	now := time.Now().UTC()
	var entries []ledger.Entry
	for _, list := range indexRanges(indices, maxAccessList) {
		entries = append(entries, ledger.Entry{
			Kind:     ledger.KindAccess,
			Source:   ledger.SourceLedger,
			EventKey: "access/" + newID(16),
			Name:     "access",
			Start:    now,
			Attrs: []ledger.Attr{
				{Key: AttrAccessActor, Value: t.Name},
				{Key: AttrAccessRole, Value: string(t.Role)},
				{Key: AttrAccessPath, Value: path},
				{Key: AttrAccessEntries, Value: list},
				{Key: AttrAccessRequestID, Value: rid},
			},
		})
	}
	// Committed in a transaction of its own: the reader waits for its
	// entry, not for the group commit of everything ingest queued.
	_, err := s.cfg.Log.AppendNow(c.Request().Context(), entries)
	return err
}

// indexRanges renders ascending indices as space-separated indices and
// ranges "first-last", in strings of at most max bytes.
func indexRanges(indices []uint64, max int) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		item := strconv.FormatUint(indices[i], 10)
		if j > i {
			item += "-" + strconv.FormatUint(indices[j], 10)
		}
		if b.Len() > 0 && b.Len()+1+len(item) > max {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(item)
		i = j + 1
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}
