//! `FileDevice`: the fallback backend, positional `pread`/`pwrite` on tokio's blocking
//! thread pool. Used only where io_uring is unavailable; correct, but each I/O costs a
//! thread hop and a syscall.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{AlignedBuf, BlockDevice, DeviceBackend, DeviceError, DeviceResult, OpenedFile};

/// A data device served by `pread`/`pwrite`.
#[derive(Debug)]
pub struct FileDevice {
    inner: Arc<OpenedFile>,
}

impl FileDevice {
    /// Wraps an opened device file.
    pub fn new(file: OpenedFile) -> FileDevice {
        FileDevice {
            inner: Arc::new(file),
        }
    }
}

fn io_err(op: &'static str, offset: u64, len: usize) -> impl FnOnce(std::io::Error) -> DeviceError {
    move |source| DeviceError::Io {
        op,
        offset,
        len,
        source,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> DeviceResult<T> + Send + 'static,
) -> DeviceResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| DeviceError::Closed)?
}

impl BlockDevice for FileDevice {
    fn size(&self) -> u64 {
        self.inner.size
    }

    fn backend(&self) -> DeviceBackend {
        DeviceBackend::File
    }

    fn read(
        &self,
        offset: u64,
        mut buf: AlignedBuf,
    ) -> BoxFuture<'static, DeviceResult<AlignedBuf>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            super::check_range(offset, buf.len(), inner.size)?;
            blocking(move || {
                let len = buf.len();
                inner
                    .file
                    .read_exact_at(buf.as_mut_slice(), offset)
                    .map_err(io_err("read", offset, len))?;
                Ok(buf)
            })
            .await
        })
    }

    fn write(&self, offset: u64, buf: Arc<AlignedBuf>) -> BoxFuture<'static, DeviceResult<()>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            super::check_range(offset, buf.len(), inner.size)?;
            blocking(move || {
                inner
                    .file
                    .write_all_at(buf.as_slice(), offset)
                    .map_err(io_err("write", offset, buf.len()))
            })
            .await
        })
    }

    fn flush(&self) -> BoxFuture<'static, DeviceResult<()>> {
        let inner = self.inner.clone();
        Box::pin(blocking(move || {
            inner.file.sync_data().map_err(io_err("flush", 0, 0))
        }))
    }
}
