// Package checkpoint keeps a service's checkpoints on local disk: an
// engine snapshot together with the source positions it corresponds to,
// written atomically (a crash mid-write never damages the last good one),
// checksummed, versioned, the newest few kept.
//
// A file is
//
//	"VIGILCKP"                 8 bytes
//	format version             uint32, big-endian (FormatVersion)
//	metadata length            uint32
//	metadata                   JSON (Meta)
//	snapshot length            uint64
//	snapshot                   the engine's snapshot (cep's format, itself framed and checksummed)
//	CRC-32C                    uint32, of everything before it
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FormatVersion is the file layout this code writes and reads.
const FormatVersion = 1

const magic = "VIGILCKP"

// Meta describes a checkpoint.
type Meta struct {
	Seq       uint64    `json:"seq"` // increases with every checkpoint of a directory
	WrittenAt time.Time `json:"written_at"`
	// RulesVersion is the version of the rules the state was built by.
	RulesVersion int64 `json:"rules_version"`
	// Positions are, per source partition (by engine input name), the
	// offset of the last record whose event the state includes.
	Positions map[string]int64 `json:"positions,omitempty"`
}

// Checkpoint is one read back.
type Checkpoint struct {
	Meta     Meta
	Snapshot []byte
	Path     string
}

// ErrUnknownVersion is a checkpoint written by a newer (or unknown) vigil:
// it is refused rather than skipped, so that state is never silently lost.
var ErrUnknownVersion = errors.New("checkpoint: unknown format version")

// Dir is a directory of checkpoints.
type Dir struct {
	path string
	keep int
	log  *slog.Logger
}

// Open opens (creating) a checkpoint directory that keeps the newest keep
// checkpoints (at least 2: the previous one is the fallback when the
// newest is damaged).
func Open(path string, keep int, log *slog.Logger) (*Dir, error) {
	if keep < 2 {
		keep = 2
	}
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Dir{path: path, keep: keep, log: log}, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.path }

const suffix = ".vcp"

func (d *Dir) name(seq uint64) string {
	return filepath.Join(d.path, fmt.Sprintf("checkpoint-%012d%s", seq, suffix))
}

// list returns the checkpoints' sequence numbers, newest first.
func (d *Dir) list() ([]uint64, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "checkpoint-") || !strings.HasSuffix(n, suffix) {
			continue
		}
		if seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "checkpoint-"), suffix), 10, 64); err == nil {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	slices.Reverse(seqs)
	return seqs, nil
}

// Write stores a checkpoint: to a temporary file, synced, then renamed
// into place and the directory synced, so the newest name always holds a
// complete file. Older checkpoints beyond keep are removed after. It
// returns the file's path and size.
func (d *Dir) Write(meta Meta, snapshot []byte) (string, int64, error) {
	seqs, err := d.list()
	if err != nil {
		return "", 0, err
	}
	if len(seqs) > 0 && meta.Seq <= seqs[0] {
		meta.Seq = seqs[0] + 1
	}
	if meta.Seq == 0 {
		meta.Seq = 1
	}
	final := d.name(meta.Seq)
	size, err := writeFile(d.path, final, meta, snapshot)
	if err != nil {
		return "", 0, err
	}
	d.prune()
	return final, size, nil
}

// writeFile writes one checkpoint file atomically.
func writeFile(dir, final string, meta Meta, snapshot []byte) (int64, error) {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return 0, err
	}
	var head bytes.Buffer
	head.WriteString(magic)
	binary.Write(&head, binary.BigEndian, uint32(FormatVersion))
	binary.Write(&head, binary.BigEndian, uint32(len(metaJSON)))
	head.Write(metaJSON)
	binary.Write(&head, binary.BigEndian, uint64(len(snapshot)))
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	crc.Write(head.Bytes())
	crc.Write(snapshot)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], crc.Sum32())

	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	_, err = f.Write(head.Bytes())
	if err == nil {
		_, err = f.Write(snapshot)
	}
	if err == nil {
		_, err = f.Write(tail[:])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	return int64(head.Len() + len(snapshot) + len(tail)), nil
}

// A partition checkpoint holds one source partition's state, saved when
// the partition is revoked, for when it is assigned again: the full
// checkpoints written meanwhile no longer hold it.

func (d *Dir) partitionPath(name string) string {
	return filepath.Join(d.path, "partition-"+hex.EncodeToString([]byte(name))+suffix)
}

// WritePartition stores the checkpoint of one partition (by engine input
// name), replacing any before.
func (d *Dir) WritePartition(name string, meta Meta, snapshot []byte) error {
	_, err := writeFile(d.path, d.partitionPath(name), meta, snapshot)
	return err
}

// ReadPartition returns a partition's checkpoint, or nil when there is
// none.
func (d *Dir) ReadPartition(name string) (*Checkpoint, error) {
	c, err := Read(d.partitionPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return c, err
}

// RemovePartition drops a partition's checkpoint once a full checkpoint
// holds the partition again.
func (d *Dir) RemovePartition(name string) {
	if err := os.Remove(d.partitionPath(name)); err == nil {
		syncDir(d.path)
	}
}

// prune removes all but the newest keep checkpoints, and stray temporary
// files of writes that died.
func (d *Dir) prune() {
	seqs, err := d.list()
	if err != nil {
		return
	}
	for i, seq := range seqs {
		if i >= d.keep {
			os.Remove(d.name(seq))
		}
	}
	matches, _ := filepath.Glob(filepath.Join(d.path, "checkpoint-*"+suffix+".tmp"))
	for _, m := range matches {
		os.Remove(m)
	}
}

func syncDir(path string) error {
	dir, err := os.Open(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// Candidates returns the checkpoints to try, newest first: Load reads the
// first that is whole; Read reads any.
func (d *Dir) Candidates() ([]string, error) {
	seqs, err := d.list()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(seqs))
	for i, s := range seqs {
		out[i] = d.name(s)
	}
	return out, nil
}

// Load returns the newest checkpoint that reads back whole and that use
// accepts, falling back to older ones (with a log line naming what was
// wrong) when the newest is damaged or use refuses it. It returns nil when
// there is none. A checkpoint of an unknown format version stops the
// search with ErrUnknownVersion: an older vigil must not silently run on
// older state.
func (d *Dir) Load(use func(*Checkpoint) error) (*Checkpoint, error) {
	paths, err := d.Candidates()
	if err != nil {
		return nil, err
	}
	var failures []string
	for _, p := range paths {
		c, err := Read(p)
		if err == nil {
			err = use(c)
		}
		if err == nil {
			if len(failures) > 0 {
				d.log.Warn("restored from an older checkpoint: the newer ones are damaged", "path", p,
					"damaged", strings.Join(failures, "; "))
			}
			return c, nil
		}
		if errors.Is(err, ErrUnknownVersion) {
			return nil, err
		}
		d.log.Error("checkpoint damaged; trying the one before", "path", p, "err", err)
		failures = append(failures, fmt.Sprintf("%s: %v", filepath.Base(p), err))
	}
	if len(failures) > 0 {
		return nil, fmt.Errorf("checkpoint: every checkpoint in %s is damaged: %s", d.path, strings.Join(failures, "; "))
	}
	return nil, nil
}

// Read reads and verifies one checkpoint file.
func Read(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(what string) error { return fmt.Errorf("%s: %s", filepath.Base(path), what) }
	if len(data) < len(magic)+8 || string(data[:len(magic)]) != magic {
		return nil, bad("not a vigil checkpoint (no VIGILCKP header)")
	}
	rest := data[len(magic):]
	version := binary.BigEndian.Uint32(rest)
	if version != FormatVersion {
		return nil, fmt.Errorf("%w %d in %s (this vigil reads version %d): use the vigil that wrote it, or move the file away to start without its state",
			ErrUnknownVersion, version, path, FormatVersion)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != sum {
		return nil, bad("checksum mismatch (a damaged or partly written file)")
	}
	r := bytes.NewReader(rest[4:])
	var metaLen uint32
	if err := binary.Read(r, binary.BigEndian, &metaLen); err != nil || int(metaLen) > r.Len() {
		return nil, bad("truncated metadata")
	}
	metaJSON := make([]byte, metaLen)
	io.ReadFull(r, metaJSON)
	c := &Checkpoint{Path: path}
	if err := json.Unmarshal(metaJSON, &c.Meta); err != nil {
		return nil, bad("metadata: " + err.Error())
	}
	var snapLen uint64
	if err := binary.Read(r, binary.BigEndian, &snapLen); err != nil || snapLen != uint64(r.Len()-4) {
		return nil, bad("truncated snapshot")
	}
	c.Snapshot = make([]byte, snapLen)
	io.ReadFull(r, c.Snapshot)
	return c, nil
}
