package provider_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// engineOnly are the imports only the protocol engine may use: fosite, and
// go-jose v3, which fosite's API speaks. Everything else in the module uses
// go-jose v4 and the engine's Gatehouse types.
var engineOnly = []string{"github.com/ory/fosite", "github.com/go-jose/go-jose/v3"}

// engineDir is the one package (with its test fixtures below it) a fork or
// replacement of fosite would touch.
const engineDir = "provider/internal/oauth"

// TestFositeStaysBehindTheEngine checks every non-test Go file of the
// module: none outside provider/internal/oauth imports fosite or go-jose
// v3.
func TestFositeStaysBehindTheEngine(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || rel == engineDir {
				return filepath.SkipDir
			}
			// A nested module (bench/, the bare-fosite baseline) is not part of the library.
			if rel != "." {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, banned := range engineOnly {
				if p == banned || strings.HasPrefix(p, banned+"/") {
					t.Errorf("%s imports %s: only %s may (use its Gatehouse types instead)", rel, p, engineDir)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files; is the walk rooted at the module?", checked)
	}
}
