//! Files and folders the CLI creates for the merchant: owner-only, since they hold the
//! phone's database, backups and the simulated world's state.

use std::path::Path;

/// Creates `dir` and its parents; new directories are readable by the owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
