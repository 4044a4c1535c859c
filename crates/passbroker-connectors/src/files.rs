//! Files a source's settings name. Everything here blocks: call it from a blocking task
//! (`tokio::task::spawn_blocking`), never on the async runtime.
//!
//! Only regular files are opened: a FIFO would block the opener until a writer appears, a
//! device (`/dev/zero`) would never end, and a symbolic link could point anywhere. Files are
//! opened with `O_NOFOLLOW | O_NONBLOCK` and checked with `fstat` on the open descriptor, so
//! a file swapped for a FIFO or a link after it was checked is still refused.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// What a file is, in words, when it is not a regular file.
fn kind_of(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_dir() {
        Some("a directory")
    } else {
        Some("not a regular file")
    }
}

/// Opens `path` if it is a regular file (not a link, FIFO, device, socket or directory).
pub(crate) fn open_regular(path: &Path, options: &mut OpenOptions) -> Result<File, String> {
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                format!("{} is a symbolic link, not a regular file", path.display())
            } else if e.raw_os_error() == Some(libc::ENXIO) {
                format!("{} is a FIFO or device, not a regular file", path.display())
            } else {
                format!("cannot open {}: {e}", path.display())
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(format!("{} is {kind}, not a regular file", path.display()));
    }
    Ok(file)
}

/// Reads a regular file of at most `limit` bytes as text.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<String, String> {
    let file = open_regular(path, OpenOptions::new().read(true))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > limit {
        return Err(format!("{} is larger than {limit} bytes", path.display()));
    }
    Ok(text)
}

/// Resolves a path a source names inside `data_dir`: a relative path is taken from the data
/// dir, an absolute one must lie inside it; `..` is refused, and so is a directory on the way
/// that leads out of the data dir (a symbolic link). When the file exists it must be a
/// regular file. Returns the path to open, under the data dir's canonical path.
pub fn resolve_in_data_dir(data_dir: &Path, path: &Path) -> Result<PathBuf, String> {
    if path.as_os_str().is_empty() {
        return Err("is empty".into());
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(format!("{} may not contain `..`", path.display()));
    }
    let dir = data_dir
        .canonicalize()
        .map_err(|e| format!("the data dir {} is not usable: {e}", data_dir.display()))?;
    let candidate = if path.is_absolute() {
        let given = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let inside = path
            .strip_prefix(&dir)
            .or_else(|_| path.strip_prefix(&given))
            .map_err(|_| {
                format!(
                    "{} is outside the data dir ({}); give a path inside it",
                    path.display(),
                    data_dir.display()
                )
            })?;
        dir.join(inside)
    } else {
        dir.join(path)
    };
    let (Some(parent), Some(name)) = (candidate.parent(), candidate.file_name()) else {
        return Err(format!("{} does not name a file", path.display()));
    };
    let parent = parent
        .canonicalize()
        .map_err(|e| format!("the directory of {} is not usable: {e}", path.display()))?;
    if !parent.starts_with(&dir) {
        return Err(format!(
            "{} leads outside the data dir ({})",
            path.display(),
            data_dir.display()
        ));
    }
    let resolved = parent.join(name);
    match std::fs::symlink_metadata(&resolved) {
        Ok(meta) => match kind_of(meta.file_type()) {
            Some(kind) => Err(format!("{} is {kind}, not a regular file", path.display())),
            None => Ok(resolved),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(resolved),
        Err(e) => Err(format!("cannot inspect {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
    }

    #[test]
    fn hardening_paths_stay_in_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let dir = data.canonicalize().unwrap();
        assert_eq!(
            resolve_in_data_dir(&data, Path::new("calls.log")).unwrap(),
            dir.join("calls.log")
        );
        assert_eq!(
            resolve_in_data_dir(&data, &data.join("calls.log")).unwrap(),
            dir.join("calls.log")
        );
        for outside in [
            tmp.path().join("calls.log"),
            PathBuf::from("/etc/passwd"),
            PathBuf::from("../calls.log"),
            data.join("../calls.log"),
        ] {
            let e = resolve_in_data_dir(&data, &outside).unwrap_err();
            assert!(e.contains("outside") || e.contains(".."), "{e}");
        }
        // A link inside the data dir to a directory outside it.
        std::os::unix::fs::symlink(tmp.path(), data.join("out")).unwrap();
        let e = resolve_in_data_dir(&data, Path::new("out/calls.log")).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        // A link to a file, a FIFO, a directory: not regular files.
        std::fs::write(tmp.path().join("target"), b"x").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("target"), data.join("link.log")).unwrap();
        let e = resolve_in_data_dir(&data, Path::new("link.log")).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        mkfifo(&data.join("fifo.log"));
        let e = resolve_in_data_dir(&data, Path::new("fifo.log")).unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
        std::fs::create_dir(data.join("sub")).unwrap();
        let e = resolve_in_data_dir(&data, Path::new("sub")).unwrap_err();
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn hardening_only_regular_files_open_and_none_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        mkfifo(&fifo);
        // Neither reading nor appending waits for the other end of the FIFO.
        let e = read_regular(&fifo, 1024).unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
        let e = open_regular(&fifo, OpenOptions::new().append(true).create(true)).unwrap_err();
        assert!(e.contains("FIFO"), "{e}");
        let e = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(e.contains("device"), "{e}");
        let file = tmp.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        std::os::unix::fs::symlink(&file, tmp.path().join("l")).unwrap();
        let e = read_regular(&tmp.path().join("l"), 1024).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(read_regular(&file, 1024).unwrap(), "hello");
        assert!(read_regular(&file, 4).unwrap_err().contains("larger"));
    }
}
