//! Instance logs: the container writes its stdout and stderr straight into
//! `{instance dir}/container.log` (opened `O_APPEND`, handed to runc), so no skiff
//! process or task sits in the output path. Rotation is "copytruncate": when the file
//! passes the size limit it is copied to `container.log.1` and truncated in place
//! (the container's append-mode fd carries on at the new end). Readers tail the file.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;

/// How often a following reader looks for new output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

/// The current log file in an instance dir.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("container.log")
}

fn rotated_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

/// Rotates `log` if it is larger than `max_bytes` (keeps one rotated file).
pub fn rotate_if_needed(log: &Path, max_bytes: u64) {
    let Ok(meta) = fs::metadata(log) else { return };
    if meta.len() <= max_bytes {
        return;
    }
    if fs::copy(log, rotated_path(log)).is_ok() {
        if let Ok(f) = fs::OpenOptions::new().write(true).open(log) {
            let _ = f.set_len(0);
        }
    }
}

/// The last `n` lines of the rotated file followed by the current one (all when `n`
/// is `None`), and the current file's length at the time of reading.
fn read_tail(log: &Path, n: Option<usize>) -> (Vec<u8>, u64) {
    let current = fs::read(log).unwrap_or_default();
    let len = current.len() as u64;
    let mut all = fs::read(rotated_path(log)).unwrap_or_default();
    all.extend_from_slice(&current);
    let Some(n) = n else { return (all, len) };
    if n == 0 {
        return (Vec::new(), len);
    }
    // find the start of the n-th line from the end (a trailing newline ends the last line)
    let body = all.strip_suffix(b"\n").unwrap_or(&all);
    let mut seen = 0;
    let mut start = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                start = i + 1;
                break;
            }
        }
    }
    (all[start..].to_vec(), len)
}

/// Streams the log: the tail first, then (when `follow`) new output until `done`
/// reports the instance gone.
pub fn stream(
    log: PathBuf,
    tail_lines: Option<usize>,
    follow: bool,
    done: impl Fn() -> bool + Send + 'static,
) -> BoxStream<'static, Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    // Open before reading the tail so a removal right after still lets us drain.
    let file = fs::File::open(&log).ok();
    tokio::spawn(async move {
        let (head, mut offset) = read_tail(&log, tail_lines);
        if !head.is_empty() && tx.send(Bytes::from(head)).await.is_err() {
            return;
        }
        if !follow {
            return;
        }
        let Some(mut file) = file else { return };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let finished = done();
            // truncated by rotation: start over at the beginning
            if file.metadata().map(|m| m.len() < offset).unwrap_or(false) {
                offset = 0;
            }
            loop {
                if file.seek(SeekFrom::Start(offset)).is_err() {
                    break;
                }
                match file.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        offset += n as u64;
                        if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                            return;
                        }
                    }
                }
            }
            if finished || tx.is_closed() {
                return;
            }
            tokio::time::sleep(FOLLOW_INTERVAL).await;
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_path(dir.path());
        fs::write(&log, b"a\nb\nc\n").unwrap();
        assert_eq!(read_tail(&log, Some(2)).0, b"b\nc\n");
        assert_eq!(read_tail(&log, Some(10)).0, b"a\nb\nc\n");
        assert_eq!(read_tail(&log, None).0, b"a\nb\nc\n");
        rotate_if_needed(&log, 3);
        assert_eq!(fs::read(&log).unwrap(), b"");
        fs::write(&log, b"d\n").unwrap();
        assert_eq!(read_tail(&log, Some(2)).0, b"c\nd\n");
        assert_eq!(read_tail(&log, Some(2)).1, 2);
    }
}
