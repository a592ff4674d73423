package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// pieceRecords is how many records a worker gathers before handing them
// over, so that a huge transcript is never held in memory whole. Up to
// about 7 pieces per worker are alive at once (filling, queued, recycled),
// so their size weighs on peak memory: 2,048 cost a 600 MB first index
// about 6 MB more RSS than 512, for no measurable speed, and 128 cut
// about 2 MB off 100 MB of long sessions.
const pieceRecords = 128

// piece is part of one file's new content: the records in it and the file
// state just past its last complete line. The writer applies both in one
// batch, so a stored offset never runs ahead of stored records.
type piece struct {
	records []usage.Record
	prompts []usage.Prompt
	state   *usage.FileState
	bad     int64 // bad lines in this piece
	// badValues counts the records of this piece with a value replaced.
	badValues int64
	bytes     int64 // bytes read for this piece
	first     bool  // first piece of its file
}

// resumeOffset decides where to continue reading a file: at the stored
// offset when it is the same file (device and inode) and has not shrunk
// below it, else from the start. Re-reading is safe: records are upserted by
// key, never added twice.
func resumeOffset(prev usage.FileState, known bool, fi fs.FileInfo) (offset int64, reason string) {
	if !known {
		return 0, "new"
	}
	dev, ino := fileID(fi)
	switch {
	case dev != prev.Device || ino != prev.Inode:
		return 0, "replaced"
	case fi.Size() < prev.Offset:
		return 0, "truncated"
	}
	return prev.Offset, ""
}

// fileReader reads transcripts for one worker goroutine, reusing its
// buffers from file to file.
type fileReader struct {
	lr     *lineReader
	strs   interner
	logger *slog.Logger
	// free returns record slices from the writer once it has copied
	// them, so that a run allocates a few of them rather than one per
	// piece.
	free <-chan []usage.Record
}

func newFileReader(opts Options, logger *slog.Logger, free <-chan []usage.Record) *fileReader {
	return &fileReader{lr: newLineReader(nil, opts.MaxLineBytes), logger: logger, free: free}
}

// newPiece starts a piece with a recycled record slice when one is free.
func (r *fileReader) newPiece(first bool) piece {
	select {
	case recs := <-r.free:
		return piece{records: recs[:0], first: first}
	default:
		return piece{first: first}
	}
}

// read sends j's file, from where the last run stopped, to out in pieces.
// A file that has vanished is skipped quietly.
func (r *fileReader) read(ctx context.Context, j job, out chan<- piece) {
	path := j.src.Path
	logger := r.logger.With(slog.String("path", path))
	f, fi, err := openRegular(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("skipping transcript", slog.Any("error", err))
		}
		return
	}
	defer f.Close()
	if j.src.MetaPath != "" {
		j.src.Agent = readAgentType(j.src.MetaPath, logger)
	}
	// Stat again through the open file: it may have been replaced since
	// the run was planned.
	start, reason := resumeOffset(j.prev, j.known, fi)
	if start > 0 && !sameBefore(f, start, j.prev.Fingerprint) {
		start, reason = 0, "rewritten"
	}
	dev, ino := fileID(fi)
	state := usage.FileState{Path: path, Device: dev, Inode: ino, Size: fi.Size(), ModTime: fi.ModTime(), Offset: start}
	if start > 0 {
		state.BadLines = j.prev.BadLines
	} else if j.known {
		logger.Debug("reading transcript from the start", slog.String("reason", reason))
	}

	// Read only up to the size just seen, so that the state describes
	// exactly what was read; what is appended meanwhile is for next time.
	r.lr.reset(io.NewSectionReader(f, start, fi.Size()-start))
	send := func(p piece, last bool) bool {
		st := state
		if !last {
			// The size read so far, not the file's: a later run takes a
			// file of its stored size and mtime for read to its stored
			// offset, so a state of the whole size stored from a piece
			// before the end (the run stopped after that piece's batch)
			// would make it skip the rest of the file for good.
			st.Size = st.Offset
		}
		st.Fingerprint = fingerprint(f, st.Offset)
		p.state = &st
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	p := r.newPiece(true)
	var bad int64
	for i := 0; ; i++ {
		// A file of lines without records sends nothing until its end,
		// so look for cancellation here too (cheaply, not every line).
		if i%1024 == 0 && ctx.Err() != nil {
			return
		}
		line, n, complete, err := r.lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			logger.Warn("transcript read failed", slog.Int64("offset", state.Offset), slog.Any("error", err))
			break
		}
		p.bytes += n
		if !complete {
			// An unterminated last line is being written, or was cut
			// short. If it is already whole its record may count now,
			// but the offset stays before it: reading it again once
			// its newline arrives finds the same key.
			if err == nil {
				switch rec, pr, kind, err := parseAny(line, &j.src, &r.strs); {
				case kind == aRecord:
					p.records = append(p.records, rec)
				case kind == aPrompt:
					p.prompts = append(p.prompts, pr)
				case err != nil:
					// As ever here, a bad line may still be a
					// prompt, by parsePrompt's looser reading.
					if pr, ok := parsePrompt(line, &j.src, &r.strs); ok {
						p.prompts = append(p.prompts, pr)
					}
				}
			}
			break
		}
		state.Offset += n
		var (
			rec  usage.Record
			pr   usage.Prompt
			kind lineKind
		)
		if err == nil {
			rec, pr, kind, err = parseAny(line, &j.src, &r.strs)
		}
		switch {
		case kind == aPrompt:
			p.prompts = append(p.prompts, pr)
		case kind == aRecord:
			if err != nil { // ErrBadValue: usable, with a value replaced
				p.badValues++
				logger.Debug("out-of-range value in a transcript line", slog.Int64("offset", state.Offset-n), slog.Any("error", err))
			}
			p.records = append(p.records, rec)
		case err != nil:
			p.bad++
			bad++
			state.BadLines++
			logger.Debug("unparseable transcript line", slog.Int64("offset", state.Offset-n), slog.Any("error", err))
		}
		if len(p.records)+len(p.prompts) >= pieceRecords {
			if !send(p, false) {
				return
			}
			p = r.newPiece(false)
		}
	}
	if bad > 0 {
		logger.Info("skipped unparseable transcript lines", slog.Int64("bad_lines", bad))
	}
	send(p, true)
}

// maxMetaBytes bounds what is read of a subagent's .meta.json: Claude
// Code's are a few hundred bytes.
const maxMetaBytes = 64 << 10

// readAgentType returns the agentType of the subagent .meta.json at path,
// or "" when there is none or it cannot be read; a file that exists but
// says nothing useful is logged.
func readAgentType(path string, logger *slog.Logger) string {
	f, _, err := openRegular(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logger.Debug("skipping subagent metadata", slog.String("meta", path), slog.Any("error", err))
		}
		return ""
	}
	defer f.Close()
	var meta struct {
		AgentType string `json:"agentType"`
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	switch {
	case err != nil:
	case len(b) > maxMetaBytes:
		err = fmt.Errorf("larger than %d bytes", maxMetaBytes)
	default:
		err = json.Unmarshal(b, &meta)
	}
	if err != nil {
		logger.Debug("skipping subagent metadata", slog.String("meta", path), slog.Any("error", err))
		return ""
	}
	return strings.TrimSpace(truncateText(meta.AgentType, maxNameBytes))
}

// maxNameBytes bounds a name taken from a data file, such as a subagent
// type.
const maxNameBytes = 200

// fingerprintBytes is how much of a file before the stored offset its
// fingerprint covers: enough that a rewrite in place almost surely
// changes it, little enough to read on every resume.
const fingerprintBytes = 4 << 10

// fingerprint hashes the up to fingerprintBytes bytes of f just before
// offset; 0 when there are none or they cannot be read (unknown).
func fingerprint(f *os.File, offset int64) uint64 {
	n := min(offset, fingerprintBytes)
	if n <= 0 {
		return 0
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, offset-n); err != nil {
		return 0
	}
	sum := sha256.Sum256(buf)
	// 0 means unknown, so a hash that happens to be 0 becomes 1.
	return max(binary.LittleEndian.Uint64(sum[:8]), 1)
}

// sameBefore reports whether the bytes before offset are still those the
// last run read up to it: their fingerprint matches want, or, for a state
// stored without one, the byte before offset is a newline. Otherwise the
// file was rewritten in place and the stored offset means nothing.
func sameBefore(f *os.File, offset int64, want uint64) bool {
	if want != 0 {
		return fingerprint(f, offset) == want
	}
	var b [1]byte
	_, err := f.ReadAt(b[:], offset-1)
	return err == nil && b[0] == '\n'
}
