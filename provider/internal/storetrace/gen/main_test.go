package main

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// storageDir is package storage, seen from this directory.
var storageDir = filepath.Join("..", "..", "..", "..", "storage")

// TestGeneratedFileIsUpToDate fails when storetrace_gen.go is not what gen
// writes from package storage as it is: an interface or a method added
// there (an optional interface such as storage.Transactor above all) would
// otherwise be hidden by the decorator, and the provider would stop finding
// it on a decorated store.
func TestGeneratedFileIsUpToDate(t *testing.T) {
	want, err := generate(storageDir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "storetrace_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("provider/internal/storetrace/storetrace_gen.go does not forward package storage as it is now " +
			"(an interface or method was added or changed there): run go generate ./provider/internal/storetrace and commit the result")
	}
}

// TestEveryStorageInterfaceIsForwarded parses package storage and checks
// that the generated decorator names every one of its interfaces: as part
// of storage.Store (forwarded by the base type) or as an optional
// interface with its own decorator types.
func TestEveryStorageInterfaceIsForwarded(t *testing.T) {
	p, err := load(storageDir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "storetrace_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := p.methodSet("Store", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range p.order {
		ms, err := p.methodSet(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if indexOf(store, m.name) >= 0 {
				continue // the base type's
			}
			if !bytes.Contains(src, []byte("var _ storage."+name+" = ")) {
				t.Errorf("storage.%s (method %s) has no decorator type that implements it: run go generate ./provider/internal/storetrace", name, m.name)
			}
			break
		}
		for _, m := range ms {
			if !bytes.Contains(src, []byte(") "+m.name+"(ctx ")) && !bytes.Contains(src, []byte(") "+m.name+"(")) {
				t.Errorf("storage.%s.%s is not wrapped: run go generate ./provider/internal/storetrace", name, m.name)
			}
		}
	}
}

// TestNewOptionalInterface checks what gen does when a helper adds an
// optional interface to package storage: a decorator type per combination,
// each asserted to implement what it combines, and a file that differs
// from the one on disk (which TestGeneratedFileIsUpToDate reports).
func TestNewOptionalInterface(t *testing.T) {
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(storageDir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := `package storage

import (
	"context"
	"time"
)

// EventRecord is an event.
type EventRecord struct{ At time.Time }

// EventLog keeps events.
type EventLog interface {
	AppendEvents(ctx context.Context, events ...EventRecord) error
	QueryEvents(ctx context.Context, since time.Time, limit int) ([]EventRecord, string, error)
}

// EventReader reads events; EventLog has the same method.
type EventReader interface {
	QueryEvents(ctx context.Context, since time.Time, limit int) ([]EventRecord, string, error)
}
`
	if err := os.WriteFile(filepath.Join(dir, "zz_events.go"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "gen.go", src, 0); err != nil {
		t.Fatalf("generated source does not parse: %v", err)
	}
	list := regexp.MustCompile(`optionalInterfaces = \[\]string\{([^}]*)\}`).FindSubmatch(src)
	if list == nil || !bytes.Contains(list[1], []byte(`"EventLog"`)) || !bytes.Contains(list[1], []byte(`"EventReader"`)) {
		t.Errorf("optionalInterfaces does not list EventLog and EventReader: %s", list)
	}
	// Every decorator type that implements EventLog or EventReader embeds
	// the QueryEvents wrapper once; there is at least one of each.
	implementing := map[string]bool{}
	for _, iface := range []string{"EventLog", "EventReader"} {
		ms := regexp.MustCompile(`var _ storage\.`+iface+` = \(\*(c\d+)\)\(nil\)`).FindAllSubmatch(src, -1)
		if len(ms) == 0 {
			t.Errorf("no decorator type implements storage.%s", iface)
		}
		for _, m := range ms {
			implementing[string(m[1])] = true
		}
	}
	if c := bytes.Count(src, []byte("\tmQueryEvents\n")); c != len(implementing) {
		t.Errorf("QueryEvents is embedded in %d decorator types, want %d (each type with EventLog or EventReader, once)", c, len(implementing))
	}
	for _, want := range []string{
		"func (w mAppendEvents) AppendEvents(ctx context.Context, a1 ...storage.EventRecord) error",
		"r0, r1, err := w.s.QueryEvents(sctx, a1, a2)",
		"w.s.AppendEvents(sctx, a1...)",
	} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("generated source lacks %q", want)
		}
	}
	onDisk, _ := os.ReadFile(filepath.Join("..", "storetrace_gen.go"))
	if bytes.Equal(src, onDisk) {
		t.Error("adding an interface did not change the generated file")
	}

	// The generated decorator compiles against the changed package
	// storage: build the real packages with both files laid over them.
	if testing.Short() {
		return
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the generated source with")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	genFile := filepath.Join(dir, "gen.go.txt")
	if err := os.WriteFile(genFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(root, "storage", "zz_events.go"):                                 filepath.Join(dir, "zz_events.go"),
		filepath.Join(root, "provider", "internal", "storetrace", "storetrace_gen.go"): genFile,
	}})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "build", "-overlay", overlayFile, "./storage", "./provider/internal/storetrace")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the decorator generated for the changed package storage does not build: %v\n%s", err, out)
	}
}
