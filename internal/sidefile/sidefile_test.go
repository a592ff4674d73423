package sidefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	sealed := Seal(append([]byte("magic-1\n"), "body"...))
	body, ok := Open(sealed, "magic-1\n")
	if !ok || string(body) != "body" {
		t.Fatalf("Open(Seal(x)) = %q, %v", body, ok)
	}
	for name, b := range map[string][]byte{
		"other magic": sealed,
		"short":       sealed[:5],
		"flipped bit": append(append([]byte{}, sealed[:9]...), append([]byte{sealed[9] ^ 1}, sealed[10:]...)...),
		"cut":         sealed[:len(sealed)-1],
	} {
		magic := "magic-1\n"
		if name == "other magic" {
			magic = "magic-2\n"
		}
		if _, ok := Open(b, magic); ok {
			t.Errorf("%s: Open accepted %q", name, b)
		}
	}
}

func TestDecoder(t *testing.T) {
	var b []byte
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	b = binary.AppendVarint(b, -7)
	b = binary.AppendUvarint(b, 2) // a count of 2 items of 4 bytes: too many for what is left
	for _, newDec := range []func([]byte) *Decoder{NewDecoder, NewSharingDecoder} {
		d := newDec(b)
		if s := d.String(d.Uvarint()); s != "abc" {
			t.Errorf("String = %q, want abc", s)
		}
		if v := d.Varint(); v != -7 {
			t.Errorf("Varint = %d, want -7", v)
		}
		if d.Failed() {
			t.Fatal("failed on good data")
		}
		if n := d.Count(4); n != 0 || !d.Failed() {
			t.Errorf("Count(4) of 2 with 0 bytes left = %d, failed %v; want 0, true", n, d.Failed())
		}
		// Failing is sticky: later reads give zero values.
		if d.Uvarint() != 0 || d.Varint() != 0 || d.String(0) != "" || !d.Failed() {
			t.Error("reads after a failure did not stay failed")
		}
	}
	d := NewDecoder([]byte{0x80}) // a varint cut short
	if d.Uvarint(); !d.Failed() {
		t.Error("a cut varint did not fail")
	}
	d = NewDecoder([]byte{5, 'a'})
	if d.String(d.Uvarint()); !d.Failed() {
		t.Error("a string longer than the data did not fail")
	}
}

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db-files")
	for _, data := range []string{"first", "second"} {
		if err := Write(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != data {
			t.Fatalf("after Write(%q): %q, %v", data, got, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the folder, want only the written one", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Error("Write into a missing folder did not fail")
	}
}

func TestWriteSealed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db-rollup")
	body := bytes.Repeat([]byte("ctm-rollup-2 body "), 40<<10) // past the buffer
	if err := WriteSealed(path, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, Seal(bytes.Clone(body))) {
		t.Fatalf("WriteSealed wrote %d bytes (%v), want Seal of the body (%d bytes)", len(got), err, len(body)+4)
	}
	// A write that fails leaves the old file and no temporary one.
	failed := errors.New("disk full")
	if err := WriteSealed(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return failed
	}); !errors.Is(err, failed) {
		t.Errorf("WriteSealed with a failing write = %v, want %v", err, failed)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, got) {
		t.Error("a failed WriteSealed changed the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files left in the folder, want only the written one", len(entries))
	}
}
