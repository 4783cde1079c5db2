//! `cargo xtask bindings`: Kotlin, Swift and Python generated from the built `posmate-ffi`
//! library into `target/bindings/<language>`; `cargo xtask bindings-test` (and `cargo xtask
//! test`) also runs the binding tests (`bindings/tests/<language>/`) in the real runtimes,
//! provisioned by [`crate::provision`].
//!
//! The library is built unstripped (the generator reads UniFFI's metadata from its
//! symbols) by the workspace's own `uniffi-bindgen`, the same UniFFI version. Each test
//! program drives the simulated world end to end and closes with "N passed, M failed";
//! a compiled test program is reused while its sources and the generated code are
//! unchanged (a warm run only runs them).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, find_file, fresh, join_paths, save_stamp, stamp};
use crate::provision::{self, Mounts};

const LANGUAGES: [&str; 3] = ["kotlin", "swift", "python"];
const LIB: &str = "libposmate_ffi.so";

/// Runs one language's binding tests.
type LanguageTest = crate::suites::Suite<Generated>;

/// What `generate` produced.
pub struct Generated {
    /// The built library.
    pub lib: PathBuf,
    /// `target/bindings`, one folder per language.
    pub out: PathBuf,
}

/// `cargo xtask bindings`.
pub fn bindings() -> Result<(), String> {
    let generated = generate()?;
    for lang in LANGUAGES {
        eprintln!("bindings: {lang} in {}", generated.out.join(lang).display());
    }
    Ok(())
}

/// Builds the library and generates every language's code from it.
pub fn generate() -> Result<Generated, String> {
    let root = common::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Two builds: built together, the generator's UniFFI features (its CLI) would be
    // unified into the library the apps get.
    for package in ["posmate-ffi", "posmate-uniffi-bindgen"] {
        common::run(
            &format!("build {package}"),
            Command::new(&cargo)
                .current_dir(&root)
                .args(["build", "-p", package]),
            "fix the build errors above",
        )?;
    }
    let target = common::target_dir();
    let lib = target.join("debug").join(LIB);
    let bindgen = target.join("debug").join("uniffi-bindgen");
    let out = target.join("bindings");
    for lang in LANGUAGES {
        let dir = out.join(lang);
        let _ = fs::remove_dir_all(&dir);
        common::run(
            &format!("uniffi-bindgen ({lang})"),
            Command::new(&bindgen)
                .current_dir(&root)
                .args(["generate", "--library"])
                .arg(&lib)
                .args(["--language", lang, "--no-format", "--out-dir"])
                .arg(&dir),
            "see the generator's message above",
        )?;
    }
    // The Python module loads the library from its own folder.
    copy(&lib, &out.join("python").join(LIB))?;
    Ok(Generated { lib, out })
}

/// `cargo xtask bindings-test`: every language, each reported; fails if any failed.
pub fn test() -> Result<(), String> {
    let runs: [(&str, LanguageTest); 3] =
        [("kotlin", kotlin), ("swift", swift), ("python", python)];
    crate::suites::run_each("binding tests", "languages", &runs, &generate()?)
}

fn python(g: &Generated) -> Result<(), String> {
    let python = provision::python()?;
    let test = common::workspace_root().join("bindings/tests/python/test_bindings.py");
    common::run(
        "python binding tests",
        Command::new(python)
            .arg(&test)
            .env("PYTHONPATH", g.out.join("python"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "see the failed checks above",
    )
}

fn kotlin(g: &Generated) -> Result<(), String> {
    let kotlin = provision::kotlin()?;
    let generated = find_file(&g.out.join("kotlin"), "posmate_ffi.kt")?;
    let test = common::workspace_root().join("bindings/tests/kotlin/BindingsTest.kt");
    let work = common::target_dir().join("bindings-test/kotlin");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let jar = work.join("bindings-test.jar");
    let coroutines = kotlin.lib("kotlinx-coroutines-core-jvm.jar");
    let stdlib = kotlin.lib("kotlin-stdlib.jar");
    let classpath = join_paths(&[&kotlin.jna, &coroutines]);
    let key = stamp(&[&generated, &test], provision::KOTLIN_VERSION);
    if !fresh(&jar, &key) {
        common::run(
            "kotlinc",
            Command::new("nice")
                .args(["-n", "10"])
                .arg(kotlin.kotlinc())
                .args(["-nowarn", "-jvm-target", "17", "-cp", &classpath, "-d"])
                .arg(&jar)
                .arg(&generated)
                .arg(&test)
                .env("JAVA_OPTS", "-Xmx2g -XX:TieredStopAtLevel=1"),
            "fix the Kotlin compile errors above",
        )?;
        save_stamp(&jar, &key)?;
    }
    let lib_dir = g.lib.parent().expect("the library is in a folder");
    common::run(
        "kotlin binding tests",
        Command::new("java")
            .arg(format!("-Djna.library.path={}", lib_dir.display()))
            .arg("-cp")
            .arg(join_paths(&[&jar, &stdlib, &coroutines, &kotlin.jna]))
            .arg("BindingsTestKt")
            .env("POSMATE_TEST_TMP", &work),
        "see the failed checks above",
    )
}

fn swift(g: &Generated) -> Result<(), String> {
    let swift = provision::swift()?;
    let src = g.out.join("swift");
    let test = common::workspace_root().join("bindings/tests/swift/main.swift");
    // The test runs inside the Swift root: its sources, the generated module and the
    // library are copied there.
    let inside = Path::new("/posmate-bindings-test");
    let work = swift.root.join(inside.strip_prefix("/").expect("absolute"));
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut inputs = vec![test.clone()];
    for name in [
        "posmate_ffi.swift",
        "posmate_ffiFFI.h",
        "posmate_ffiFFI.modulemap",
    ] {
        let file = src.join(name);
        copy(&file, &work.join(name))?;
        inputs.push(file);
    }
    copy(&test, &work.join("main.swift"))?;
    copy(&g.lib, &work.join(LIB))?;
    let binary = work.join("bindings-test");
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let key = stamp(&refs, "swift");
    let _mounts = Mounts::for_root(&swift.root)?;
    let chroot = |script: &str| {
        let mut cmd = Command::new("chroot");
        cmd.arg(&swift.root)
            .args(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/root"])
            .arg(format!("POSMATE_TEST_TMP={}/tmp", inside.display()))
            .args(["sh", "-c", script]);
        cmd
    };
    if !fresh(&binary, &key) {
        // The generated module in Swift 5 language mode: Swift 6.0's compiler crashes on
        // UniFFI's async callback helpers in Swift 6 mode (TransferNonSendable). The test,
        // like an app, is Swift 6 code importing that module.
        let compile = format!(
            "cd {dir} && rm -rf module-cache && \
             nice -n 10 swiftc -swift-version 5 -module-name posmate_ffi -parse-as-library \
             -emit-library -emit-module -emit-module-path {dir}/posmate_ffi.swiftmodule \
             -module-cache-path {dir}/module-cache -I {dir} {map} -L {dir} -lposmate_ffi \
             posmate_ffi.swift -o libposmate_ffi_swift.so && \
             nice -n 10 swiftc -swift-version 6 -module-name BindingsTest \
             -module-cache-path {dir}/module-cache -I {dir} {map} -L {dir} \
             -lposmate_ffi_swift -lposmate_ffi main.swift -o bindings-test",
            dir = inside.display(),
            map = format_args!(
                "-Xcc -fmodule-map-file={}/posmate_ffiFFI.modulemap",
                inside.display()
            ),
        );
        common::run(
            "swiftc",
            &mut chroot(&compile),
            "fix the Swift compile errors above",
        )?;
        save_stamp(&binary, &key)?;
    }
    let _ = fs::remove_dir_all(work.join("tmp"));
    fs::create_dir_all(work.join("tmp")).map_err(|e| format!("{}: {e}", work.display()))?;
    let run = format!(
        "cd {dir} && LD_LIBRARY_PATH=. timeout 600 ./bindings-test",
        dir = inside.display()
    );
    common::run(
        "swift binding tests",
        &mut chroot(&run),
        "see the failed checks above",
    )
}

// ---- helpers --------------------------------------------------------------------------------

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}
