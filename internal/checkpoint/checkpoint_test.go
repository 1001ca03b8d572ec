package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, d *Dir, snap string, pos int64) string {
	t.Helper()
	p, _, err := d.Write(Meta{WrittenAt: time.UnixMilli(1795169045000).UTC(), RulesVersion: 3,
		Positions: map[string]int64{"kafka:events/0": pos}}, []byte(snap))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func accept(*Checkpoint) error { return nil }

func TestWriteAndLoadKeepTheNewest(t *testing.T) {
	var logs bytes.Buffer
	d, err := Open(t.TempDir(), 2, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.Load(accept); c != nil || err != nil {
		t.Fatalf("empty dir: %v %v", c, err)
	}
	write(t, d, "one", 1)
	write(t, d, "two", 2)
	newest := write(t, d, "three", 3)
	paths, _ := d.Candidates()
	if len(paths) != 2 || paths[0] != newest {
		t.Errorf("kept %v; want the newest two", paths)
	}
	c, err := d.Load(accept)
	if err != nil || string(c.Snapshot) != "three" || c.Meta.Seq != 3 || c.Meta.Positions["kafka:events/0"] != 3 || c.Meta.RulesVersion != 3 {
		t.Fatalf("load: %+v %v", c, err)
	}
	// A write that died leaves a temporary file: never read, removed by the next write.
	os.WriteFile(filepath.Join(d.Path(), "checkpoint-000000000004.vcp.tmp"), []byte("half"), 0o600)
	if c, _ := d.Load(accept); string(c.Snapshot) != "three" {
		t.Errorf("a stray temporary file was read")
	}
	write(t, d, "four", 4)
	if m, _ := filepath.Glob(filepath.Join(d.Path(), "*.tmp")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestDamagedNewestFallsBackToThePrevious(t *testing.T) {
	var logs bytes.Buffer
	d, _ := Open(t.TempDir(), 2, slog.New(slog.NewTextHandler(&logs, nil)))
	write(t, d, "good", 1)
	newest := write(t, d, "newest", 2)
	for name, damage := range map[string]func([]byte) []byte{
		"a flipped byte": func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b },
		"truncated":      func(b []byte) []byte { return b[:len(b)-3] },
		"empty":          func([]byte) []byte { return nil },
	} {
		data, _ := os.ReadFile(newest)
		os.WriteFile(newest+".orig", data, 0o600)
		os.WriteFile(newest, damage(data), 0o600)
		logs.Reset()
		c, err := d.Load(accept)
		if err != nil || string(c.Snapshot) != "good" {
			t.Errorf("%s: loaded %v %v; want the previous checkpoint", name, c, err)
		}
		if !strings.Contains(logs.String(), "checkpoint damaged; trying the one before") || !strings.Contains(logs.String(), "restored from an older checkpoint") {
			t.Errorf("%s: log %q", name, logs.String())
		}
		os.Rename(newest+".orig", newest)
	}
	// A checkpoint the caller cannot restore (its snapshot is bad) also falls back.
	c, err := d.Load(func(c *Checkpoint) error {
		if string(c.Snapshot) == "newest" {
			return errors.New("snapshot frame 3: bad CRC")
		}
		return nil
	})
	if err != nil || string(c.Snapshot) != "good" {
		t.Errorf("refused newest: %v %v", c, err)
	}
	// Every one damaged: an error naming them.
	c, err = d.Load(func(*Checkpoint) error { return errors.New("bad") })
	if c != nil || err == nil || !strings.Contains(err.Error(), "every checkpoint") {
		t.Errorf("all refused: %v %v", c, err)
	}
}

func TestUnknownVersionIsRefused(t *testing.T) {
	d, _ := Open(t.TempDir(), 2, nil)
	write(t, d, "old", 1)
	p := write(t, d, "future", 2)
	data, _ := os.ReadFile(p)
	binary.BigEndian.PutUint32(data[len(magic):], FormatVersion+1)
	os.WriteFile(p, data, 0o600)
	c, err := d.Load(accept)
	if c != nil || !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("unknown version: %v %v; want ErrUnknownVersion, no fallback", c, err)
	}
}
