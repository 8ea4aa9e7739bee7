package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		mode    os.FileMode
		size    int
		wantErr string
	}{
		{"owner read write", 0o600, 32, ""},
		{"owner read only", 0o400, 32, ""},
		{"group readable", 0o640, 32, "permissions -rw-r----- are too open; want 0600"},
		{"world readable", 0o644, 32, "permissions -rw-r--r-- are too open"},
		{"other only", 0o604, 32, "too open"},
		{"group writable", 0o620, 32, "too open"},
		{"too large", 0o600, MaxSize + 1, "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			want := strings.Repeat("k", tt.size)
			if err := os.WriteFile(p, []byte(want), 0o600); err != nil {
				t.Fatal(err)
			}
			// Chmod, as WriteFile's mode is masked by the umask.
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := Read(p)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Read(%v file) = %v, want success", tt.mode, err)
			case tt.wantErr == "" && string(got) != want:
				t.Fatalf("Read(%v file) = %q, want %q", tt.mode, got, want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Read(%v file) = %v, want an error with %q", tt.mode, err, tt.wantErr)
			}
		})
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read(directory) = %v, want not a regular file", err)
	}
}
