package main

// tiles checks a log that keywarden exported as static C2SP tlog-tiles files
// (`keywarden audit export`), the way any outside tlog-tiles client would,
// with golang.org/x/mod/sumdb/tlog and sumdb/note only:
//
//   - <dir>/checkpoint must be a signed note verified by <vkey>, whose text is
//     a tlog-checkpoint (origin, size, base64 root);
//   - tlog.TileHashReader reads the hash tiles from <dir>/tile/<L>/<N>[.p/<W>]
//     (Go's own paths carry a height segment, tile/8/...; the C2SP layout
//     drops it) and authenticates every tile it reads against the tree hash;
//   - tlog.TreeHash over those tiles must equal the checkpoint's root;
//   - for sampled entries (every one up to 2,000), the entry is read from its
//     bundle <dir>/tile/entries/<N>[.p/<W>] (big-endian uint16 length-prefixed
//     entries), and tlog.ProveRecord + tlog.CheckRecord prove it is in the tree;
//   - with an older checkpoint file: tlog.ProveTree + tlog.CheckTree prove the
//     log only grew from it.
//
// It prints one FAIL line per failed check and a summary; exit status 0 when
// every check passes, 1 when one fails, 2 on a usage or I/O error.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

// c2spPath maps a Go tile path (tile/8/L/...) to the C2SP layout (tile/L/...).
func c2spPath(t tlog.Tile) string {
	return strings.Replace(t.Path(), fmt.Sprintf("tile/%d/", tileHeight), "tile/", 1)
}

// dirTiles serves tiles from an exported directory.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return tileHeight }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(c2spPath(t))))
		if errors.Is(err, fs.ErrNotExist) && t.W < 1<<tileHeight {
			// tlog-tiles §"Partial Tiles": a client may fall back to the full tile.
			full := t
			full.W = 1 << tileHeight
			data, err = os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(c2spPath(full))))
			if err == nil && len(data) >= t.W*tlog.HashSize {
				data = data[:t.W*tlog.HashSize]
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// openCheckpoint reads and verifies a checkpoint note file.
func openCheckpoint(path string, verifier note.Verifier) (checkpoint, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return checkpoint{}, err
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, fmt.Errorf("note.Open: %v", err)
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return checkpoint{}, err
	}
	if c.origin != verifier.Name() {
		return checkpoint{}, fmt.Errorf("checkpoint origin %q is not the key's name %q", c.origin, verifier.Name())
	}
	return c, nil
}

// entryAt reads entry i of a tree of size n from its bundle.
func entryAt(dir string, n, i int64) ([]byte, error) {
	w := 1 << tileHeight
	if i/int64(w) == n/int64(w) {
		w = int(n % int64(w))
	}
	t := tlog.Tile{H: tileHeight, L: 0, N: i >> tileHeight, W: w}
	path := strings.Replace(t.Path(), fmt.Sprintf("tile/%d/0/", tileHeight), "tile/entries/", 1)
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(path)))
	if err != nil {
		return nil, err
	}
	for k := int64(0); ; k++ {
		if len(data) < 2 {
			return nil, fmt.Errorf("%s: bundle ends before entry %d", path, i)
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+l {
			return nil, fmt.Errorf("%s: truncated entry", path)
		}
		if k == i%(1<<tileHeight) {
			return data[2 : 2+l], nil
		}
		data = data[2+l:]
	}
}

func tiles(args []string) int {
	if len(args) < 2 || len(args) > 3 {
		usage()
	}
	dir := args[0]
	verifier, err := note.NewVerifier(args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlogcheck tiles: verifier key: %v\n", err)
		return 2
	}
	cp, err := openCheckpoint(filepath.Join(dir, "checkpoint"), verifier)
	if err != nil {
		fmt.Printf("FAIL checkpoint: %v\n", err)
		return 1
	}
	tree := tlog.Tree{N: cp.size, Hash: cp.root}
	r := tlog.TileHashReader(tree, dirTiles{dir})
	failed, checks := 0, 0
	fail := func(format string, a ...any) {
		failed++
		fmt.Printf("FAIL "+format+"\n", a...)
	}

	checks++
	if th, err := tlog.TreeHash(cp.size, r); err != nil {
		fail("tlog.TreeHash(%d): %v", cp.size, err)
	} else if th != cp.root {
		fail("tlog.TreeHash(%d) = %v, checkpoint root %v", cp.size, th, cp.root)
	}

	step := int64(1)
	if cp.size > 2000 {
		step = cp.size / 1000
	}
	for i := int64(0); i < cp.size; i += step {
		for _, idx := range []int64{i, cp.size - 1 - i} {
			if idx < 0 || idx >= cp.size {
				continue
			}
			checks++
			entry, err := entryAt(dir, cp.size, idx)
			if err != nil {
				fail("entry %d: %v", idx, err)
				continue
			}
			proof, err := tlog.ProveRecord(cp.size, idx, r)
			if err != nil {
				fail("tlog.ProveRecord(%d, %d): %v", cp.size, idx, err)
				continue
			}
			if err := tlog.CheckRecord(proof, cp.size, cp.root, idx, tlog.RecordHash(entry)); err != nil {
				fail("tlog.CheckRecord(%d, %d): %v", cp.size, idx, err)
			}
		}
	}

	if len(args) == 3 {
		checks++
		old, err := openCheckpoint(args[2], verifier)
		if err != nil {
			fail("older checkpoint: %v", err)
		} else if p, err := tlog.ProveTree(cp.size, old.size, r); err != nil {
			fail("tlog.ProveTree(%d, %d): %v", cp.size, old.size, err)
		} else if err := tlog.CheckTree(p, cp.size, cp.root, old.size, old.root); err != nil {
			fail("tlog.CheckTree(%d, %d): %v", cp.size, old.size, err)
		}
	}

	fmt.Printf("tlogcheck tiles: size %d, %d checks, %d failed\n", cp.size, checks, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
