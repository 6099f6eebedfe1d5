package objstore

import (
	"strings"
	"testing"
)

// TestNew_PicksTheBackend: the zero Config is a Dir; "s3" builds an S3; anything else is refused.
func TestNew_PicksTheBackend(t *testing.T) {
	dir := t.TempDir()
	s3cfg := S3Config{Endpoint: "http://127.0.0.1:9", Bucket: "b", PathStyle: true, AccessKeyID: "a", SecretAccessKey: "s"}
	for _, c := range []struct {
		name    string
		cfg     Config
		dir     string
		want    string // type, or "" for an error
		wantErr string
	}{
		{"ZeroIsDir", Config{}, dir, "*objstore.Dir", ""},
		{"Dir", Config{Backend: "dir"}, dir, "*objstore.Dir", ""},
		{"DirWithoutDirectory", Config{Backend: "dir"}, "", "", "no directory"},
		{"S3", Config{Backend: "s3", S3: s3cfg}, "", "*objstore.S3", ""},
		{"S3WithoutBucket", Config{Backend: "s3"}, "", "", "bucket"},
		{"Unknown", Config{Backend: "gcs"}, dir, "", "want"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(t.Context(), c.cfg, c.dir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("New = %T, %v; want an error naming %q", s, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(s); got != c.want {
				t.Errorf("New = %s, want %s", got, c.want)
			}
		})
	}
}

func typeName(s Store) string {
	switch s.(type) {
	case *Dir:
		return "*objstore.Dir"
	case *S3:
		return "*objstore.S3"
	}
	return "?"
}
