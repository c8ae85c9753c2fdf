//! The one error type of the crate: every variant names the file or folder at fault.

use std::path::{Path, PathBuf};

/// A problem with dataset input. `Display` always starts with the path, e.g.
/// `data/mnist/train-images-idx3-ubyte: truncated: header says 60000x28x28 = 47040000 bytes, file has 1000`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A required file or folder does not exist. `note` says what else was tried (may be empty).
    #[error("{}: not found{}", .path.display(), .note)]
    Missing { path: PathBuf, note: String },

    /// The file exists but could not be read.
    #[error("{}: read error: {}", .path.display(), .source)]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A `.gz` file is not valid gzip (bad header, corrupt or cut-off stream).
    #[error("{}: gzip decode failed: {}", .path.display(), .source)]
    Gzip {
        path: PathBuf,
        source: std::io::Error,
    },

    /// IDX magic is not `00 00 08 <ndims>` with the expected number of dims
    /// (3 for images, 1 for labels). `found` holds the first (up to) 4 bytes.
    #[error("{}: bad IDX magic {:02x?}: expected [00, 00, 08, {:02x}] (u8 data, {} dims)", .path.display(), .found, .expected_dims, .expected_dims)]
    BadMagic {
        path: PathBuf,
        found: Vec<u8>,
        expected_dims: u8,
    },

    /// Fewer data bytes than the header's dims say (or a header cut short).
    /// `actual` counts the bytes after the header.
    #[error("{}: truncated: header says {} = {} bytes, file has {}", .path.display(), .dims, .expected, .actual)]
    Truncated {
        path: PathBuf,
        dims: String,
        expected: u64,
        actual: u64,
    },

    /// More data bytes than the header's dims say.
    #[error("{}: trailing bytes: header says {} = {} bytes, file has {}", .path.display(), .dims, .expected, .actual)]
    TrailingBytes {
        path: PathBuf,
        dims: String,
        expected: u64,
        actual: u64,
    },

    /// A header describes an unusable shape (a zero height or width).
    #[error("{}: bad dims: {}", .path.display(), .message)]
    BadDims { path: PathBuf, message: String },

    /// The label file and the image file disagree on the number of samples.
    #[error("{}: {} labels, but {} has {} images", .path.display(), .labels, .images_path.display(), .images)]
    CountMismatch {
        path: PathBuf,
        labels: usize,
        images_path: PathBuf,
        images: usize,
    },

    /// A label is not below the number of classes.
    #[error("{}: label {} at sample {} is out of range (num classes {})", .path.display(), .label, .index, .num_classes)]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u32,
        num_classes: usize,
    },

    /// A CIFAR-10 batch file whose length is zero or not a multiple of 3073 (1 label + 3072 pixels).
    #[error("{}: CIFAR-10 batch length {} is not a positive multiple of 3073", .path.display(), .len)]
    CifarLength { path: PathBuf, len: u64 },

    /// An image folder (split folder) with no class subfolders.
    #[error("{}: empty image folder: no class subfolders", .path.display())]
    EmptyFolder { path: PathBuf },

    /// A class folder without any `.png`/`.jpg`/`.jpeg` file.
    #[error("{}: class folder has no .png/.jpg/.jpeg images", .path.display())]
    EmptyClass { path: PathBuf },

    /// An image file that the decoder rejects.
    #[error("{}: cannot decode image: {}", .path.display(), .message)]
    Decode { path: PathBuf, message: String },

    /// A class folder of the test split whose name is not a class of the train split.
    #[error("{}: test class `{}` is not among the train classes", .path.display(), .class)]
    UnknownClass { path: PathBuf, class: String },

    /// An [`crate::OpenOptions`] value that cannot be honoured (e.g. `channels = 2`, `img_size = 0`).
    #[error("{}: invalid option: {}", .path.display(), .message)]
    InvalidOption { path: PathBuf, message: String },

    /// A JSON file that does not parse, or whose records lack a required field.
    #[error("{}: invalid JSON: {}", .path.display(), .message)]
    Json { path: PathBuf, message: String },

    /// One entry of a file is invalid: `entry` names it (`annotation 17 (index 16)`,
    /// `image 3 (index 2)`, `pixel (5, 9)`).
    #[error("{}: {}: {}", .path.display(), .entry, .message)]
    BadEntry {
        path: PathBuf,
        entry: String,
        message: String,
    },

    /// A file that does not fit the rest of its data set (another size or channel count, a
    /// mask that is not 8-bit gray).
    #[error("{}: {}", .path.display(), .message)]
    Invalid { path: PathBuf, message: String },

    /// An output folder that already holds files; nothing was written.
    #[error("{}: exists and is not empty (nothing was written; remove it or choose another folder)", .path.display())]
    NotEmpty { path: PathBuf },

    /// A file or folder could not be written.
    #[error("{}: write error: {}", .path.display(), .source)]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DataError {
    /// The file or folder the error is about.
    pub fn path(&self) -> &Path {
        match self {
            DataError::Missing { path, .. }
            | DataError::Io { path, .. }
            | DataError::Gzip { path, .. }
            | DataError::BadMagic { path, .. }
            | DataError::Truncated { path, .. }
            | DataError::TrailingBytes { path, .. }
            | DataError::BadDims { path, .. }
            | DataError::CountMismatch { path, .. }
            | DataError::LabelOutOfRange { path, .. }
            | DataError::CifarLength { path, .. }
            | DataError::EmptyFolder { path }
            | DataError::EmptyClass { path }
            | DataError::Decode { path, .. }
            | DataError::UnknownClass { path, .. }
            | DataError::InvalidOption { path, .. }
            | DataError::Json { path, .. }
            | DataError::BadEntry { path, .. }
            | DataError::Invalid { path, .. }
            | DataError::NotEmpty { path }
            | DataError::Write { path, .. } => path,
        }
    }

    /// `Missing` for a path with nothing else tried.
    pub(crate) fn missing(path: impl Into<PathBuf>) -> Self {
        DataError::Missing {
            path: path.into(),
            note: String::new(),
        }
    }

    /// `BadEntry` for `entry` of `path`.
    pub(crate) fn entry(
        path: impl Into<PathBuf>,
        entry: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DataError::BadEntry {
            path: path.into(),
            entry: entry.into(),
            message: message.into(),
        }
    }

    /// `Invalid` for `path`.
    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// `Write` for `path`.
    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Write {
            path: path.into(),
            source,
        }
    }

    /// Maps an I/O error on `path` to `Missing` (not found) or `Io`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::missing(path)
        } else {
            DataError::Io { path, source }
        }
    }
}
