package ledger

import (
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// SignNote signs a note other than a checkpoint (such as the verifiable
// index's commitment) with the log's key. It refuses text whose first line
// is the log's origin, so that nothing it signs can be taken for a
// checkpoint.
func (s *Signer) SignNote(text string) ([]byte, error) {
	first, _, _ := strings.Cut(text, "\n")
	if first == s.Origin() {
		return nil, fmt.Errorf("%w: sign note: its first line is the log's origin, as a checkpoint's", ErrInvalid)
	}
	msg, err := note.Sign(&note.Note{Text: text}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("sign note: %w", err)
	}
	return msg, nil
}
