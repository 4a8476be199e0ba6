// Command tlogcheck is an independent check of keywarden's audit-log code
// (src/audit/merkle.ts, note.ts, checkpoint.ts) against the Go reference
// implementation of the same formats: golang.org/x/mod/sumdb/tlog (RFC 6962
// Merkle trees, as used by the Go checksum database) and
// golang.org/x/mod/sumdb/note (C2SP signed notes).
//
// It uses only the standard library and those two packages, so it builds
// offline in GOPATH mode against Debian's golang-golang-x-mod-dev sources
// (see test/interop/run-go.sh).
//
// Usage:
//
//	tlogcheck generate <out.json>   write vectors computed by x/mod
//	tlogcheck verify <in.json>      check vectors written by another implementation
//	tlogcheck tiles <dir> <vkey> [<old checkpoint>]
//	                                check a log exported as C2SP tlog-tiles (tiles.go)
//
// verify prints one line per failing vector and a summary line; it exits 0 if
// every check passes, 1 if any fails, and 2 on a usage or I/O error.
//
// The JSON format (byte strings are lower-case hex; keys and notes are text):
//
//	{"origin": "...", "leaves": ["hex entry bytes", ...],
//	 "roots": [{"size": n, "root": "hex"}],
//	 "inclusion": [{"index": i, "size": n, "leaf_hash": "hex", "proof": ["hex", ...]}],
//	 "consistency": [{"old": m, "new": n, "proof": ["hex", ...]}],
//	 "verifier_key": "name+hash+base64", "signer_key": "PRIVATE+KEY+...",
//	 "checkpoint_notes": ["full signed note text"]}
//
// Each checkpoint note's text is a C2SP tlog-checkpoint body:
// "<origin>\n<size>\n<base64 root hash>\n" followed by optional extension lines.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	defaultOrigin = "keywarden.example/interop"
	numLeaves     = 40
	// keySeedLabel seeds the deterministic reader that note.GenerateKey draws
	// the Ed25519 seed from, so that generate always writes the same file.
	keySeedLabel = "keywarden tlogcheck interop key v1"
)

// Vectors is the JSON file shared by the Go and TypeScript sides.
// Field order here is the order in the written file.
type Vectors struct {
	Origin          string    `json:"origin"`
	Leaves          []string  `json:"leaves"`
	Roots           []RootVec `json:"roots"`
	Inclusion       []InclVec `json:"inclusion"`
	Consistency     []ConsVec `json:"consistency"`
	VerifierKey     string    `json:"verifier_key"`
	SignerKey       string    `json:"signer_key,omitempty"`
	CheckpointNotes []string  `json:"checkpoint_notes"`
}

type RootVec struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type InclVec struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Proof    []string `json:"proof"`
}

type ConsVec struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"`
}

func main() {
	if len(os.Args) >= 4 && os.Args[1] == "tiles" {
		os.Exit(tiles(os.Args[2:]))
	}
	if len(os.Args) != 3 {
		usage()
	}
	switch os.Args[1] {
	case "generate":
		if err := generate(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "tlogcheck generate: %v\n", err)
			os.Exit(2)
		}
	case "verify":
		os.Exit(verify(os.Args[2]))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tlogcheck generate <out.json>\n       tlogcheck verify <in.json>\n       tlogcheck tiles <dir> <verifier key> [<older checkpoint file>]")
	os.Exit(2)
}

// ---------------------------------------------------------------------------
// Tree storage: the stored hashes that tlog.StoredHashes produces, kept in
// memory and read back through a tlog.HashReader.

type memStore struct{ hashes []tlog.Hash }

func (s *memStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s.hashes)) {
			return nil, fmt.Errorf("stored hash index %d out of range (have %d)", x, len(s.hashes))
		}
		out[i] = s.hashes[x]
	}
	return out, nil
}

// buildStore appends every entry to a fresh tree, as a log server would.
func buildStore(entries [][]byte) (*memStore, error) {
	s := &memStore{}
	for n, data := range entries {
		hs, err := tlog.StoredHashes(int64(n), data, s)
		if err != nil {
			return nil, err
		}
		if want := tlog.StoredHashIndex(0, int64(n)); want != int64(len(s.hashes)) {
			return nil, fmt.Errorf("record %d: stored hash index %d, store has %d", n, want, len(s.hashes))
		}
		s.hashes = append(s.hashes, hs...)
	}
	return s, nil
}

// ---------------------------------------------------------------------------
// generate

// detReader is a deterministic byte stream: SHA-256(label || be64(counter)).
type detReader struct {
	label   []byte
	counter uint64
	buf     []byte
}

func (r *detReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.counter)
			r.counter++
			sum := sha256.Sum256(append(append([]byte{}, r.label...), c[:]...))
			r.buf = sum[:]
		}
		k := copy(p[n:], r.buf)
		r.buf = r.buf[k:]
		n += k
	}
	return n, nil
}

// leafEntries returns numLeaves varied, fixed entries: empty, single bytes,
// text, all-0xff, entries shaped like RFC 6962 interior/leaf preimages (to
// catch a missing domain-separation prefix), and long ones.
func leafEntries() [][]byte {
	seq := func(n int, start byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = start + byte(i)
		}
		return b
	}
	rep := func(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }
	entries := [][]byte{
		{},          // 0: empty entry
		{0x00},      // 1
		{0x01},      // 2
		{0xff},      // 3
		[]byte("a"), // 4
		[]byte("hello, transparency log"),
		[]byte("keywarden break-glass access: conversation dm:alice:bob, key version 3"),
		[]byte("grüße 😀 — utf-8"),
		rep(32, 0x00),
		rep(32, 0xff),
		append([]byte{0x00}, rep(32, 0x11)...), // looks like a leaf-hash preimage
		append([]byte{0x01}, rep(64, 0x22)...), // looks like an interior-node preimage
		seq(64, 0),
		seq(255, 1),
		seq(256, 0),
		rep(1000, 0x5a),
		[]byte("\n\n"),
		[]byte("line one\nline two\n"),
		{0x00, 0x00, 0x00, 0x00},
		[]byte(`{"event":"unseal","actor":"ops@example"}`),
	}
	r := &detReader{label: []byte("keywarden tlogcheck leaves v1")}
	for len(entries) < numLeaves {
		i := len(entries)
		var lb [1]byte
		r.Read(lb[:])
		n := int(lb[0]) % 97
		if i%7 == 0 {
			n = 0 // a few more empty entries, not only at index 0
		}
		b := make([]byte, n)
		r.Read(b)
		entries = append(entries, b)
	}
	return entries
}

func hexProof(p []tlog.Hash) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

func inclusionPairs(maxSize int64) [][2]int64 {
	var out [][2]int64
	seen := map[[2]int64]bool{}
	add := func(i, n int64) {
		k := [2]int64{i, n}
		if i >= 0 && i < n && n <= maxSize && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, n := range []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 39, 40} {
		for _, i := range []int64{0, 1, n / 2, n/2 - 1, n - 2, n - 1} {
			add(i, n)
		}
	}
	// Every index of the full tree.
	for i := int64(0); i < maxSize; i++ {
		add(i, maxSize)
	}
	return out
}

func consistencyPairs(maxSize int64) [][2]int64 {
	var out [][2]int64
	seen := map[[2]int64]bool{}
	add := func(m, n int64) {
		k := [2]int64{m, n}
		if m >= 1 && m <= n && n <= maxSize && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, n := range []int64{2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 39, 40} {
		add(1, n)
		add(n-1, n)
		add(n/2, n)
		add((n+1)/2, n)
		for p := int64(1); p < n; p *= 2 {
			add(p, n)
		}
	}
	// Equal sizes: RFC 9162 defines the proof as empty.
	for _, n := range []int64{1, 8, 40} {
		add(n, n)
	}
	// Every old size against the full tree.
	for m := int64(1); m <= maxSize; m++ {
		add(m, maxSize)
	}
	return out
}

func checkpointText(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

func generate(path string) error {
	entries := leafEntries()
	store, err := buildStore(entries)
	if err != nil {
		return err
	}
	max := int64(len(entries))
	roots := make([]tlog.Hash, max+1)
	v := Vectors{Origin: defaultOrigin}
	for _, e := range entries {
		v.Leaves = append(v.Leaves, hex.EncodeToString(e))
	}
	for n := int64(1); n <= max; n++ {
		h, err := tlog.TreeHash(n, store)
		if err != nil {
			return err
		}
		roots[n] = h
		v.Roots = append(v.Roots, RootVec{Size: n, Root: hex.EncodeToString(h[:])})
	}
	for _, p := range inclusionPairs(max) {
		i, n := p[0], p[1]
		proof, err := tlog.ProveRecord(n, i, store)
		if err != nil {
			return fmt.Errorf("ProveRecord(size=%d, index=%d): %v", n, i, err)
		}
		lh := tlog.RecordHash(entries[i])
		if err := tlog.CheckRecord(proof, n, roots[n], i, lh); err != nil {
			return fmt.Errorf("self-check CheckRecord(size=%d, index=%d): %v", n, i, err)
		}
		v.Inclusion = append(v.Inclusion, InclVec{Index: i, Size: n, LeafHash: hex.EncodeToString(lh[:]), Proof: hexProof(proof)})
	}
	for _, p := range consistencyPairs(max) {
		m, n := p[0], p[1]
		proof, err := tlog.ProveTree(n, m, store)
		if err != nil {
			return fmt.Errorf("ProveTree(new=%d, old=%d): %v", n, m, err)
		}
		if err := tlog.CheckTree(proof, n, roots[n], m, roots[m]); err != nil {
			return fmt.Errorf("self-check CheckTree(new=%d, old=%d): %v", n, m, err)
		}
		v.Consistency = append(v.Consistency, ConsVec{Old: m, New: n, Proof: hexProof(proof)})
	}

	skey, vkey, err := note.GenerateKey(&detReader{label: []byte(keySeedLabel)}, defaultOrigin)
	if err != nil {
		return err
	}
	v.SignerKey, v.VerifierKey = skey, vkey
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	for _, n := range []int64{1, 17, max} {
		msg, err := note.Sign(&note.Note{Text: checkpointText(defaultOrigin, n, roots[n])}, signer)
		if err != nil {
			return err
		}
		if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
			return fmt.Errorf("self-check note.Open(size=%d): %v", n, err)
		}
		v.CheckpointNotes = append(v.CheckpointNotes, string(msg))
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&v); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// ---------------------------------------------------------------------------
// verify

type checker struct {
	checks   int
	failures int
}

// check records one vector's outcome; problems empty means it passed.
func (c *checker) check(what string, problems []string) {
	c.checks++
	if len(problems) > 0 {
		c.failures++
		fmt.Printf("FAIL %s: %s\n", what, strings.Join(problems, "; "))
	}
}

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	if s != strings.ToLower(s) {
		return h, fmt.Errorf("hash %q is not lower-case hex", s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("hash %q is not hex: %v", s, err)
	}
	if len(b) != len(h) {
		return h, fmt.Errorf("hash %q has %d bytes, want %d", s, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

func parseProof(p []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(p))
	for i, s := range p {
		h, err := parseHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof[%d]: %v", i, err)
		}
		out[i] = h
	}
	return out, nil
}

func sameProof(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shortHashes(p []tlog.Hash) string {
	s := make([]string, len(p))
	for i, h := range p {
		s[i] = hex.EncodeToString(h[:])
	}
	return "[" + strings.Join(s, ",") + "]"
}

// checkpoint is a parsed C2SP tlog-checkpoint body.
type checkpoint struct {
	origin     string
	size       int64
	root       tlog.Hash
	extensions []string
}

func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, errors.New("checkpoint text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("checkpoint has %d lines, want at least 3", len(lines))
	}
	c.origin = lines[0]
	if c.origin == "" {
		return c, errors.New("checkpoint origin line is empty")
	}
	sz := lines[1]
	if sz == "" || (len(sz) > 1 && sz[0] == '0') || strings.TrimLeft(sz, "0123456789") != "" {
		return c, fmt.Errorf("checkpoint size %q is not a canonical decimal", sz)
	}
	n, err := strconv.ParseInt(sz, 10, 64)
	if err != nil {
		return c, fmt.Errorf("checkpoint size %q: %v", sz, err)
	}
	c.size = n
	rb, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rb) != len(c.root) || base64.StdEncoding.EncodeToString(rb) != lines[2] {
		return c, fmt.Errorf("checkpoint root %q is not canonical base64 of 32 bytes", lines[2])
	}
	copy(c.root[:], rb)
	for i, ext := range lines[3:] {
		if ext == "" {
			return c, fmt.Errorf("checkpoint extension line %d is empty", i+1)
		}
		c.extensions = append(c.extensions, ext)
	}
	return c, nil
}

func verify(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlogcheck verify: %v\n", err)
		return 2
	}
	var v Vectors
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		fmt.Fprintf(os.Stderr, "tlogcheck verify: %s: %v\n", path, err)
		return 2
	}
	if _, err := dec.Token(); err != io.EOF {
		fmt.Fprintf(os.Stderr, "tlogcheck verify: %s: trailing data after the JSON object\n", path)
		return 2
	}

	c := &checker{}

	// A file with nothing in it must not pass by default.
	for _, sec := range []struct {
		name string
		n    int
	}{{"leaves", len(v.Leaves)}, {"roots", len(v.Roots)}, {"inclusion", len(v.Inclusion)}, {"consistency", len(v.Consistency)}, {"checkpoint_notes", len(v.CheckpointNotes)}} {
		var probs []string
		if sec.n == 0 {
			probs = append(probs, "section is empty")
		}
		c.check("section "+sec.name, probs)
	}

	{
		var probs []string
		if v.Origin == "" {
			probs = append(probs, "origin is missing")
		}
		c.check("origin", probs)
	}

	// Leaves, and Go's own tree over them.
	entries := make([][]byte, len(v.Leaves))
	for i, s := range v.Leaves {
		var probs []string
		b, err := hex.DecodeString(s)
		if err != nil || s != strings.ToLower(s) {
			probs = append(probs, fmt.Sprintf("entry is not lower-case hex: %q", s))
		}
		entries[i] = b
		c.check(fmt.Sprintf("leaves[%d]", i), probs)
	}
	store, err := buildStore(entries)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlogcheck verify: building tree: %v\n", err)
		return 2
	}
	max := int64(len(entries))
	goRoot := func(n int64) (tlog.Hash, error) {
		if n < 1 || n > max {
			return tlog.Hash{}, fmt.Errorf("size %d outside 1..%d (number of leaves)", n, max)
		}
		return tlog.TreeHash(n, store)
	}

	// Roots.
	fileRoots := map[int64]tlog.Hash{}
	for i, r := range v.Roots {
		var probs []string
		got, err := parseHash(r.Root)
		if err != nil {
			probs = append(probs, err.Error())
		} else if want, err := goRoot(r.Size); err != nil {
			probs = append(probs, err.Error())
		} else if got != want {
			probs = append(probs, fmt.Sprintf("root %x, x/mod tlog.TreeHash gives %x", got[:], want[:]))
		} else {
			fileRoots[r.Size] = got
		}
		c.check(fmt.Sprintf("roots[%d] size=%d", i, r.Size), probs)
	}

	// Inclusion proofs.
	for k, x := range v.Inclusion {
		var probs []string
		what := fmt.Sprintf("inclusion[%d] index=%d size=%d", k, x.Index, x.Size)
		lh, err1 := parseHash(x.LeafHash)
		proof, err2 := parseProof(x.Proof)
		root, err3 := goRoot(x.Size)
		switch {
		case err1 != nil:
			probs = append(probs, "leaf_hash: "+err1.Error())
		case err2 != nil:
			probs = append(probs, err2.Error())
		case err3 != nil:
			probs = append(probs, err3.Error())
		case x.Index < 0 || x.Index >= x.Size:
			probs = append(probs, "index outside 0..size-1")
		default:
			if want := tlog.RecordHash(entries[x.Index]); lh != want {
				probs = append(probs, fmt.Sprintf("leaf_hash %x, x/mod tlog.RecordHash(leaves[%d]) gives %x", lh[:], x.Index, want[:]))
			}
			if err := tlog.CheckRecord(proof, x.Size, root, x.Index, lh); err != nil {
				probs = append(probs, "tlog.CheckRecord: "+err.Error())
			}
			if want, err := tlog.ProveRecord(x.Size, x.Index, store); err != nil {
				probs = append(probs, "tlog.ProveRecord: "+err.Error())
			} else if !sameProof(proof, want) {
				probs = append(probs, fmt.Sprintf("proof %s differs from tlog.ProveRecord %s", shortHashes(proof), shortHashes(want)))
			}
		}
		c.check(what, probs)
	}

	// Consistency proofs.
	for k, x := range v.Consistency {
		var probs []string
		what := fmt.Sprintf("consistency[%d] old=%d new=%d", k, x.Old, x.New)
		proof, err1 := parseProof(x.Proof)
		oldRoot, err2 := goRoot(x.Old)
		newRoot, err3 := goRoot(x.New)
		switch {
		case err1 != nil:
			probs = append(probs, err1.Error())
		case err2 != nil:
			probs = append(probs, "old: "+err2.Error())
		case err3 != nil:
			probs = append(probs, "new: "+err3.Error())
		case x.Old > x.New:
			probs = append(probs, "old > new")
		default:
			if err := tlog.CheckTree(proof, x.New, newRoot, x.Old, oldRoot); err != nil {
				probs = append(probs, "tlog.CheckTree: "+err.Error())
			}
			if want, err := tlog.ProveTree(x.New, x.Old, store); err != nil {
				probs = append(probs, "tlog.ProveTree: "+err.Error())
			} else if !sameProof(proof, want) {
				probs = append(probs, fmt.Sprintf("proof %s differs from tlog.ProveTree %s", shortHashes(proof), shortHashes(want)))
			}
		}
		c.check(what, probs)
	}

	// Keys.
	verifier, verr := note.NewVerifier(v.VerifierKey)
	{
		var probs []string
		if verr != nil {
			probs = append(probs, fmt.Sprintf("note.NewVerifier(%q): %v", v.VerifierKey, verr))
		}
		c.check("verifier_key", probs)
	}
	if v.SignerKey != "" {
		var probs []string
		signer, err := note.NewSigner(v.SignerKey)
		if err != nil {
			probs = append(probs, fmt.Sprintf("note.NewSigner: %v", err))
		} else if verr == nil {
			// The signer key must be the private half of the verifier key.
			msg, err := note.Sign(&note.Note{Text: "key pairing check\n"}, signer)
			if err != nil {
				probs = append(probs, fmt.Sprintf("note.Sign: %v", err))
			} else if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
				probs = append(probs, fmt.Sprintf("a note signed with signer_key does not open with verifier_key: %v", err))
			}
		}
		c.check("signer_key", probs)
	}

	// Signed checkpoint notes.
	for k, msg := range v.CheckpointNotes {
		var probs []string
		what := fmt.Sprintf("checkpoint_notes[%d]", k)
		if verr != nil {
			probs = append(probs, "no usable verifier_key")
		} else if n, err := note.Open([]byte(msg), note.VerifierList(verifier)); err != nil {
			probs = append(probs, fmt.Sprintf("note.Open: %v", err))
		} else if cp, err := parseCheckpoint(n.Text); err != nil {
			probs = append(probs, err.Error())
		} else {
			what += fmt.Sprintf(" size=%d", cp.size)
			if cp.origin != v.Origin {
				probs = append(probs, fmt.Sprintf("origin %q, file origin is %q", cp.origin, v.Origin))
			}
			if want, err := goRoot(cp.size); err != nil {
				probs = append(probs, err.Error())
			} else if cp.root != want {
				probs = append(probs, fmt.Sprintf("checkpoint root %x, x/mod tlog.TreeHash gives %x", cp.root[:], want[:]))
			}
			if fr, ok := fileRoots[cp.size]; !ok {
				probs = append(probs, fmt.Sprintf("no valid entry in roots for size %d", cp.size))
			} else if fr != cp.root {
				probs = append(probs, "checkpoint root differs from roots entry")
			}
		}
		c.check(what, probs)
	}

	fmt.Printf("tlogcheck verify %s: %d checks, %d passed, %d failed\n", path, c.checks, c.checks-c.failures, c.failures)
	if c.failures > 0 {
		return 1
	}
	return 0
}
