// Package journal is Vigil's write-ahead log and raw archive: every accepted
// message is appended here before anything else happens to it.
//
// A [Journal] is a directory of segment files holding [Record]s numbered by a
// sequence number (seq) that starts at 1 and grows by one per record. A
// number is never used twice: after a torn tail or a machine restart that
// may have lost records whose numbers were handed out, numbering continues
// after them and the gap is recorded (meta file), so readers do not count
// it as a loss. Inputs call [Journal.Append]; the indexer and every output read the
// journal with a [Reader] that keeps its own durable cursor, so a restart or a
// crash resumes where the consumer left off.
//
// # Durability
//
// Append returns only after its records were handed to the kernel with
// write(2), so killing the process (kill -9) right after Append returned loses
// nothing. Whether they also reached stable storage depends on [FsyncPolicy]:
// with [FsyncAlways] Append also waits for fsync (concurrent appenders share
// one write and one fsync: group commit), with [FsyncInterval] a background
// goroutine fsyncs every [Options.FsyncInterval], with [FsyncNever] only
// segment seals and [Journal.Close] fsync. Readers see a record only after
// all of its bytes were written, and under FsyncAlways only after they were
// fsynced.
//
// # Disk space
//
// The journal never writes its disk full on purpose: while the free space
// of its file system (statfs, checked at most every second, every MiB
// written, or before a write that may cross the limit) is below
// [Options.MinFreeDisk], Append refuses records with an error wrapping
// [ErrFull] and writes nothing. A write that fails with ENOSPC or EDQUOT
// anyway (another process filled the disk) is cut back to the last whole
// record and refused the same way, so the journal stays usable. The
// condition is logged once when it starts and once when it ends, shown by
// vigil_journal_full and counted in vigil_journal_append_refused_total;
// Append accepts records again by itself once space returns. A failed
// fsync is different: the kernel may have dropped the written pages, so
// the journal can no longer tell what is on disk and refuses every later
// Append until it is reopened (Open's recovery cuts whatever is damaged).
//
// # Directory layout
//
//	LOCK                               flock(2)ed while a process has the journal open
//	00000000000000000001.wal           sealed segment (uncompressed)
//	00000000000000004711.wal.zst       sealed segment, zstd-compressed
//	00000000000000009000.wal           the active segment (always the last one)
//	meta                               the journal's id, the numbers reserved, gaps in numbering (meta.go)
//	cursors/<name>                     committed cursor of consumer <name>
//	corrupt/<segment>.<offset>.tail    bytes cut off a torn or corrupt tail at Open (kept until removed by hand)
//
// A segment file is named by the seq of the first record it holds (or will
// hold), zero-padded to 20 digits. Records are appended to the active segment;
// when it reaches [Options.SegmentSize] it is fsynced, sealed (its mtime is set
// to the receive time of its newest record, which age retention uses) and a
// new active segment named by the next seq is created. With [Options.Compress]
// a background goroutine compresses sealed segments with zstd, each once
// every open durable reader has committed past it, or regardless once the
// sealed segments waiting uncompressed exceed 16 segment sizes (a stalled
// consumer must not keep the whole journal uncompressed). It writes
// <segment>.wal.zst.tmp, fsyncs it, renames it to <segment>.wal.zst, fsyncs
// the directory and only then removes <segment>.wal. At Open a leftover .tmp
// file is removed, and a .wal next to a .wal.zst of the same name is removed
// (the .zst is complete, the crash came before the .wal's removal).
//
// # Record framing
//
// A segment is a plain sequence of records, without a file header. Each
// record is
//
//	offset  size  field
//	0       4     body length n, little-endian uint32 (20 <= n <= 16 MiB + 4 KiB)
//	4       4     CRC-32C (Castagnoli) of the body, little-endian
//	8       n     body:
//	                seq            8 bytes, little-endian uint64
//	                receive time   8 bytes, little-endian int64, Unix nanoseconds
//	                flags          1 byte (Flag* bits)
//	                input          uvarint length + bytes
//	                peer           uvarint length + bytes
//	                data           uvarint length + bytes
//	                origin         uvarint length + bytes (only with FlagOrigin)
//
// A body must decode exactly: the fields must fill it to its last byte
// and each uvarint must use its shortest encoding. Within a segment the seqs
// are consecutive, starting at the segment's name.
//
// A compressed segment is one zstd frame. Its content is the segment in the
// compact form (compact.go): a magic "VJC1", the first seq, then chunks of
// about 64 KiB of records without their length, CRC and seq, the receive
// time as a difference and the input and peer only when they change, each
// chunk followed by a CRC-32C of its records' CRCs. zstd
// cannot compress a CRC or a fresh seq, so the compact form is about a
// quarter smaller after compression. Expanding it gives back the segment
// byte for byte, and a chunk whose CRC fails is not handed out. A segment
// compressed before the compact form, or one with a damaged record (it is
// then compressed as it is, so that readers meet the damage where it is),
// holds the plain records; readers tell the two apart by the magic, which
// as a record's body length would be out of range.
//
// # Recovery
//
// Open scans the active segment from its start and cuts it after the last
// record that decodes and carries the expected seq; the bytes that follow (a
// write torn by a crash or power loss, or garbage) are copied to corrupt/,
// counted in vigil_journal_corrupt_tail_bytes_total and logged, then the
// segment is truncated. Numbering never reuses a number: see the meta file.
// Sealed segments are not scanned at Open. A reader that meets a corrupt
// record in a sealed segment logs it, counts the records it could not read as
// lost and continues with the next segment.
//
// # Cursors
//
// A durable reader ([Journal.OpenReader]) commits its position with
// [Reader.Commit]: the seq of the first record not yet processed is written as
// decimal text to cursors/<name>.tmp, fsynced, renamed to cursors/<name> and
// the directory is fsynced, so the file always holds either the old or the
// new value.
//
// # Retention
//
// A background goroutine (every minute and after each seal) deletes the
// oldest sealed segments whose newest record is older than [Options.MaxAge],
// then the oldest sealed segments while the journal's size exceeds
// [Options.MaxSize]. The active segment is never deleted, and deletion always
// starts at the oldest segment, so the retained seqs stay contiguous from
// [Journal.FirstSeq]. A reader that is reading a segment when it is deleted
// or compressed keeps reading its open file. A durable reader whose position
// falls below FirstSeq skips forward, logs an error and counts the skipped
// records in vigil_journal_consumer_lost_records_total.
package journal
