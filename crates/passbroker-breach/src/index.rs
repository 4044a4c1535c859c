//! The index file: a header, a table of `PREFIXES + 1` little-endian u64 offsets (where each
//! five-hex-digit prefix's records start, relative to the data), then the records in hash
//! order. A record is the hash without its first two bytes (the prefix's high 16 bits are
//! implied by the table; the third byte is kept whole), then the count: one byte below 255,
//! else 255 and a little-endian u32. At ~95 records per prefix a SHA-1 record averages 19
//! bytes, so a billion hashes take about 19 GB and 100 million about 1.9 GB.

use crate::{prefix_of, BreachError, HashKind, PREFIXES};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PBBRCH01";
const HEADER_LEN: u64 = 64;
const TABLE_LEN: u64 = (PREFIXES as u64 + 1) * 8;
const DATA_START: u64 = HEADER_LEN + TABLE_LEN;
/// No prefix of a real corpus holds more than a few kilobytes; a larger one means a damaged
/// file, and reading it must not cost unbounded memory.
const MAX_BUCKET_BYTES: u64 = 4 << 20;

fn format_err(msg: impl Into<String>) -> BreachError {
    BreachError::Format(msg.into())
}

/// Writes an index from hashes given in ascending order, into a temporary file beside the
/// destination that replaces it atomically (rename) on [`IndexWriter::finish`]: a server
/// reading the old index keeps its open file until it switches.
pub struct IndexWriter {
    kind: HashKind,
    out: BufWriter<File>,
    tmp: PathBuf,
    dest: PathBuf,
    offsets: Vec<u64>,
    next_prefix: usize,
    written: u64,
    records: u64,
    last: Vec<u8>,
    finished: bool,
}

impl IndexWriter {
    pub fn create(dest: &Path, kind: HashKind) -> Result<IndexWriter, BreachError> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
        let file = File::create(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0u8; DATA_START as usize])?;
        Ok(IndexWriter {
            kind,
            out,
            tmp,
            dest: dest.to_path_buf(),
            offsets: vec![0; PREFIXES + 1],
            next_prefix: 0,
            written: 0,
            records: 0,
            last: Vec::new(),
            finished: false,
        })
    }

    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// Adds one hash; hashes must come in strictly ascending order.
    pub fn push(&mut self, hash: &[u8], count: u64) -> Result<(), BreachError> {
        if hash.len() != self.kind.len() {
            return Err(format_err(format!(
                "a {} hash has {} bytes, not {}",
                self.kind.name(),
                self.kind.len(),
                hash.len()
            )));
        }
        if !self.last.is_empty() && hash <= self.last.as_slice() {
            return Err(format_err(
                "hashes are not in ascending order (or one repeats); the corpus files are sorted, so the input is damaged",
            ));
        }
        let prefix = prefix_of(hash);
        while self.next_prefix <= prefix {
            self.offsets[self.next_prefix] = self.written;
            self.next_prefix += 1;
        }
        self.out.write_all(&hash[2..])?;
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.written += (hash.len() - 2) as u64;
        if let Ok(small) = u8::try_from(count) {
            if small < 255 {
                self.out.write_all(&[small])?;
                self.written += 1;
                self.records += 1;
                self.last.clear();
                self.last.extend_from_slice(hash);
                return Ok(());
            }
        }
        self.out.write_all(&[255])?;
        self.out.write_all(&count.to_le_bytes())?;
        self.written += 5;
        self.records += 1;
        self.last.clear();
        self.last.extend_from_slice(hash);
        Ok(())
    }

    /// Writes the table and header, makes the file durable, and renames it into place.
    /// Returns the number of records.
    pub fn finish(mut self) -> Result<u64, BreachError> {
        while self.next_prefix <= PREFIXES {
            self.offsets[self.next_prefix] = self.written;
            self.next_prefix += 1;
        }
        self.out.flush()?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.push(self.kind.code());
        header.push(u8::try_from(self.kind.len()).unwrap_or(0));
        header.extend_from_slice(&[0u8; 6]);
        header.extend_from_slice(&self.records.to_le_bytes());
        header.resize(HEADER_LEN as usize, 0);
        let mut table = Vec::with_capacity(TABLE_LEN as usize);
        for o in &self.offsets {
            table.extend_from_slice(&o.to_le_bytes());
        }
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header)?;
        file.write_all(&table)?;
        file.sync_all()?;
        std::fs::rename(&self.tmp, &self.dest)?;
        if let Some(dir) = self.dest.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.finished = true;
        Ok(self.records)
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// An open index. Holds the file (so a re-import's rename does not disturb it) and the
/// offsets table; every read is positional, so one index serves many threads at once.
pub struct BreachIndex {
    kind: HashKind,
    file: File,
    offsets: Vec<u64>,
    records: u64,
}

impl std::fmt::Debug for BreachIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreachIndex")
            .field("kind", &self.kind)
            .field("records", &self.records)
            .finish()
    }
}

impl BreachIndex {
    pub fn open(path: &Path) -> Result<BreachIndex, BreachError> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header)
            .map_err(|_| format_err(format!("{}: too short for an index", path.display())))?;
        if &header[..8] != MAGIC {
            return Err(format_err(format!(
                "{}: not a passbroker breach index",
                path.display()
            )));
        }
        let kind = HashKind::from_code(header[8])
            .filter(|k| usize::from(header[9]) == k.len())
            .ok_or_else(|| format_err(format!("{}: unknown hash kind", path.display())))?;
        let mut records = [0u8; 8];
        records.copy_from_slice(&header[16..24]);
        let records = u64::from_le_bytes(records);
        let mut table = vec![0u8; TABLE_LEN as usize];
        file.read_exact(&mut table)
            .map_err(|_| format_err(format!("{}: truncated offsets table", path.display())))?;
        let offsets: Vec<u64> = table
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect();
        let monotonic = offsets.windows(2).all(|w| w[0] <= w[1]);
        if !monotonic || offsets.last().copied() != Some(len.saturating_sub(DATA_START)) {
            return Err(format_err(format!(
                "{}: damaged (offsets do not match the file)",
                path.display()
            )));
        }
        Ok(BreachIndex {
            kind,
            file,
            offsets,
            records,
        })
    }

    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// How many hashes the index holds.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Where one prefix's records are: (file offset, length).
    fn extent(&self, prefix: usize) -> Result<(u64, usize), BreachError> {
        let (Some(&start), Some(&end)) = (self.offsets.get(prefix), self.offsets.get(prefix + 1))
        else {
            return Ok((DATA_START, 0));
        };
        let len = end.saturating_sub(start);
        if len > MAX_BUCKET_BYTES {
            return Err(format_err("damaged index: a prefix holds too many records"));
        }
        Ok((DATA_START + start, usize::try_from(len).unwrap_or(0)))
    }

    /// The raw records of one prefix.
    fn bucket(&self, prefix: usize) -> Result<Vec<u8>, BreachError> {
        let (at, len) = self.extent(prefix)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, at)?;
        Ok(buf)
    }

    /// The raw records of one prefix if the page cache holds all of them now; `None` when it
    /// does not (or the system cannot tell without waiting). Never waits for the disk
    /// (`preadv2` with `RWF_NOWAIT`), so an async thread may call it.
    fn bucket_now(&self, prefix: usize) -> Option<Result<Vec<u8>, BreachError>> {
        let (at, len) = match self.extent(prefix) {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        let mut buf = vec![0u8; len];
        if len == 0 {
            return Some(Ok(buf));
        }
        read_cached(&self.file, &mut buf, at).then_some(Ok(buf))
    }

    /// Calls `each(hash_without_first_two_bytes, count)` for every record in `buf`.
    fn scan_records(
        &self,
        buf: &[u8],
        mut each: impl FnMut(&[u8], u32) -> bool,
    ) -> Result<(), BreachError> {
        let rest_len = self.kind.len() - 2;
        let mut at = 0;
        while at + rest_len < buf.len() {
            let rest = &buf[at..at + rest_len];
            at += rest_len;
            let count = match buf[at] {
                255 => {
                    let b = buf
                        .get(at + 1..at + 5)
                        .ok_or_else(|| format_err("damaged index: a count is cut short"))?;
                    at += 5;
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                }
                small => {
                    at += 1;
                    u32::from(small)
                }
            };
            if !each(rest, count) {
                break;
            }
        }
        Ok(())
    }

    /// How often the corpus has seen this hash (`None`: never).
    pub fn lookup(&self, hash: &[u8]) -> Result<Option<u32>, BreachError> {
        if hash.len() != self.kind.len() {
            return Ok(None);
        }
        let buf = self.bucket(prefix_of(hash))?;
        self.find(&buf, hash)
    }

    /// [`BreachIndex::lookup`] if it can be answered from the page cache without waiting;
    /// `None` when the disk would have to be read (make the blocking call then, off the
    /// async threads).
    pub fn lookup_now(&self, hash: &[u8]) -> Option<Result<Option<u32>, BreachError>> {
        if hash.len() != self.kind.len() {
            return Some(Ok(None));
        }
        Some(match self.bucket_now(prefix_of(hash))? {
            Ok(buf) => self.find(&buf, hash),
            Err(e) => Err(e),
        })
    }

    /// The count of `hash` among one prefix's records.
    fn find(&self, buf: &[u8], hash: &[u8]) -> Result<Option<u32>, BreachError> {
        let mut found = None;
        self.scan_records(buf, |rest, count| {
            match rest.cmp(&hash[2..]) {
                std::cmp::Ordering::Equal => {
                    found = Some(count);
                    false
                }
                // Records are sorted: past it means absent.
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Less => true,
            }
        })?;
        Ok(found)
    }

    /// Every record of a prefix, as (the hash's hex after the five prefix digits, upper
    /// case; count), in order.
    pub fn range(&self, prefix: usize) -> Result<Vec<(String, u32)>, BreachError> {
        let buf = self.bucket(prefix)?;
        self.entries(&buf)
    }

    /// [`BreachIndex::range`] if the page cache holds the prefix now; `None` when the disk
    /// would have to be read.
    pub fn range_now(&self, prefix: usize) -> Option<Result<Vec<(String, u32)>, BreachError>> {
        Some(match self.bucket_now(prefix)? {
            Ok(buf) => self.entries(&buf),
            Err(e) => Err(e),
        })
    }

    fn entries(&self, buf: &[u8]) -> Result<Vec<(String, u32)>, BreachError> {
        let mut out = Vec::new();
        self.scan_records(buf, |rest, count| {
            let mut hex = hex::encode_upper(rest);
            hex.remove(0);
            out.push((hex, count));
            true
        })?;
        Ok(out)
    }
}

/// Fills `buf` from `file` at `at` only if the page cache holds every byte now.
#[cfg(target_os = "linux")]
fn read_cached(file: &File, buf: &mut [u8], at: u64) -> bool {
    use rustix::io::{preadv2, ReadWriteFlags};
    let want = buf.len();
    let mut slices = [std::io::IoSliceMut::new(buf)];
    // EAGAIN (not cached), a short read (partly cached) or a kernel without RWF_NOWAIT:
    // the caller reads the blocking way.
    matches!(preadv2(file, &mut slices, at, ReadWriteFlags::NOWAIT), Ok(n) if n == want)
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_file: &File, _buf: &mut [u8], _at: u64) -> bool {
    false
}
