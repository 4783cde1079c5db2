//! `cargo xtask shells-test` (and `test`): the Android and iOS shells' view-model suites,
//! run here without the Android SDK or Xcode.
//!
//! * Kotlin: the generated bindings, `android/posmate-kotlin` and `android/viewmodel` (main
//!   and test) compiled with the provisioned `kotlinc` and run on the JVM with JNA against
//!   the host library (`ViewModelTestsKt`).
//! * Swift: the `ios/` package (PosmateKit and PosmateViewModels, not the SwiftUI app)
//!   built and tested with SwiftPM and XCTest inside the provisioned Swift root, with the
//!   generated Swift and the host library copied in; then the view models' Apple-only
//!   branch (their `ObservableObject` conformance) is type-checked in Swift 6 mode against a
//!   stand-in Combine module (`shells_combine_stub.swift`), as far as Linux can check it.
//!
//! Both drive the simulated mode and close with "N passed, M failed". The generated code and
//! the library are snapshotted into `target/shells-test/` first, so another build of the
//! bindings during the run cannot mix versions. Compiled Kotlin is reused while its inputs
//! are unchanged; the Swift package keeps its `.build` folder inside the root, and files are
//! copied there only when they changed, so a warm run only links and runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bindings::{self, Generated};
use crate::common::{self, find_file, fresh, join_paths, save_stamp, stamp, walk};
use crate::provision;

const LIB: &str = "libposmate_ffi.so";
/// Where the Swift package is tested, inside the Swift root.
const SWIFT_WORK: &str = "/posmate-shells-test";
/// A stand-in for Combine, to type-check the view models' Apple-only branch on Linux.
const COMBINE_STUB: &str = include_str!("shells_combine_stub.swift");

/// One platform's view-model suite.
type Suite = crate::suites::Suite<Snapshot>;

/// The generated code and library, copied so they stay consistent for the whole run.
struct Snapshot {
    dir: PathBuf,
    lib: PathBuf,
    kotlin: PathBuf,
    swift: PathBuf,
}

/// `cargo xtask shells-test`: both suites, each reported; fails if either failed.
pub fn test() -> Result<(), String> {
    let snapshot = snapshot(&bindings::generate()?)?;
    let suites: [(&str, Suite); 2] = [("kotlin", kotlin), ("swift", swift)];
    crate::suites::run_each("view-model tests", "suites", &suites, &snapshot)
}

fn snapshot(g: &Generated) -> Result<Snapshot, String> {
    let dir = common::target_dir().join("shells-test");
    let s = Snapshot {
        lib: dir.join("ffi").join(LIB),
        kotlin: dir.join("ffi").join("posmate_ffi.kt"),
        swift: dir.join("ffi").join("swift"),
        dir,
    };
    fs::create_dir_all(&s.swift).map_err(|e| format!("{}: {e}", s.swift.display()))?;
    sync_file(&g.lib, &s.lib)?;
    sync_file(
        &find_file(&g.out.join("kotlin"), "posmate_ffi.kt")?,
        &s.kotlin,
    )?;
    for name in ["posmate_ffi.swift", "posmate_ffiFFI.h"] {
        sync_file(&g.out.join("swift").join(name), &s.swift.join(name))?;
    }
    Ok(s)
}

// ---- Kotlin ---------------------------------------------------------------------------------

fn kotlin(s: &Snapshot) -> Result<(), String> {
    let kotlin = provision::kotlin()?;
    let android = common::workspace_root().join("android");
    let work = s.dir.join("kotlin");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let coroutines = kotlin.lib("kotlinx-coroutines-core-jvm.jar");
    let stdlib = kotlin.lib("kotlin-stdlib.jar");
    let kotlin_test = kotlin.lib("kotlin-test.jar");

    // The generated bindings and the Kotlin API over them (posmate-kotlin): the slow part,
    // rebuilt only when the bindings or the API change.
    let kit = work.join("posmate-kotlin.jar");
    let mut kit_sources = vec![s.kotlin.clone()];
    kit_sources.extend(kotlin_files(
        &android.join("posmate-kotlin/src/main/kotlin"),
    )?);
    let kit_key = stamp(&kit_sources, provision::KOTLIN_VERSION);
    compile_kotlin(
        &kotlin,
        &kit,
        &kit_key,
        &[&kotlin.jna, &coroutines],
        &kit_sources,
    )?;

    // The view models with their tests.
    let tests = work.join("viewmodel-tests.jar");
    let mut vm_sources = kotlin_files(&android.join("viewmodel/src/main/kotlin"))?;
    vm_sources.extend(kotlin_files(&android.join("viewmodel/src/test/kotlin"))?);
    let vm_key = stamp(&vm_sources, &kit_key);
    compile_kotlin(
        &kotlin,
        &tests,
        &vm_key,
        &[&kit, &kotlin.jna, &coroutines, &kotlin_test],
        &vm_sources,
    )?;

    let tmp = work.join("tmp");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    common::run(
        "kotlin view-model tests",
        Command::new("java")
            .arg(format!(
                "-Djna.library.path={}",
                s.lib.parent().expect("in a folder").display()
            ))
            .arg("-cp")
            .arg(join_paths(&[
                &tests,
                &kit,
                &stdlib,
                &coroutines,
                &kotlin_test,
                &kotlin.jna,
            ]))
            .arg("app.posmate.viewmodel.ViewModelTestsKt")
            .env("POSMATE_TEST_TMP", &tmp),
        "see the failed tests above",
    )
}

fn compile_kotlin(
    kotlin: &provision::Kotlin,
    jar: &Path,
    key: &str,
    classpath: &[&Path],
    sources: &[PathBuf],
) -> Result<(), String> {
    if fresh(jar, key) {
        return Ok(());
    }
    common::run(
        &format!("kotlinc {}", file_name(jar)),
        Command::new("nice")
            .args(["-n", "10"])
            .arg(kotlin.kotlinc())
            .args([
                "-nowarn",
                "-jvm-target",
                "17",
                "-cp",
                &join_paths(classpath),
            ])
            .arg("-d")
            .arg(jar)
            .args(sources)
            .env("JAVA_OPTS", "-Xmx2g -XX:TieredStopAtLevel=1"),
        "fix the Kotlin compile errors above",
    )?;
    save_stamp(jar, key)
}

fn kotlin_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = walk(dir)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "kt"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no Kotlin sources under {}", dir.display()));
    }
    Ok(files)
}

// ---- Swift ----------------------------------------------------------------------------------

fn swift(s: &Snapshot) -> Result<(), String> {
    let swift = provision::swift()?;
    let inside = Path::new(SWIFT_WORK);
    let work = swift.root.join(inside.strip_prefix("/").expect("absolute"));
    let package = work.join("ios");
    let ios = common::workspace_root().join("ios");

    // The package as it is in the repository, minus the app and anything built; then the
    // generated Swift and header where the package expects them.
    let mut wanted = vec![PathBuf::from("Package.swift")];
    for dir in ["Sources", "Tests"] {
        for file in walk(&ios.join(dir))? {
            wanted.push(file.strip_prefix(&ios).expect("under ios").to_path_buf());
        }
    }
    let generated = [
        (
            s.swift.join("posmate_ffi.swift"),
            PathBuf::from("Sources/PosmateKit/Generated/posmate_ffi.swift"),
        ),
        (
            s.swift.join("posmate_ffiFFI.h"),
            PathBuf::from("Sources/posmate_ffiFFI/posmate_ffiFFI.h"),
        ),
    ];
    for rel in &wanted {
        sync_file(&ios.join(rel), &package.join(rel))?;
    }
    for (from, rel) in &generated {
        sync_file(from, &package.join(rel))?;
    }
    let mut keep: Vec<PathBuf> = wanted;
    keep.extend(generated.iter().map(|(_, rel)| rel.clone()));
    for dir in ["Sources", "Tests"] {
        for file in walk(&package.join(dir))? {
            let rel = file.strip_prefix(&package).expect("under the package");
            if !keep.iter().any(|k| k == rel) {
                fs::remove_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            }
        }
    }
    sync_file(&s.lib, &work.join("lib").join(LIB))?;
    let tmp = work.join("tmp");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;

    let stub = work.join("combine-stub/Combine.swift");
    fs::create_dir_all(stub.parent().expect("in a folder"))
        .map_err(|e| format!("{}: {e}", stub.display()))?;
    fs::write(&stub, COMBINE_STUB).map_err(|e| format!("{}: {e}", stub.display()))?;
    // The suite, then a type-check of the Apple-only branch (ObservableObject through
    // Combine) against a stand-in module, in Swift 6 mode like an app would build it.
    let script = format!(
        "cd {dir}/ios && LD_LIBRARY_PATH={dir}/lib nice -n 10 swift test \
         --disable-swift-testing -Xlinker -L{dir}/lib && \
         cd {dir} && swiftc -parse-as-library -emit-module -module-name Combine \
         -emit-module-path combine-stub/Combine.swiftmodule combine-stub/Combine.swift && \
         swiftc -typecheck -swift-version 6 -module-name PosmateViewModels -I combine-stub \
         -I ios/.build/debug/Modules \
         -Xcc -fmodule-map-file=ios/Sources/posmate_ffiFFI/module.modulemap \
         ios/Sources/PosmateViewModels/*.swift && \
         echo 'swift: the view models type-check with Combine (stand-in module)'",
        dir = inside.display()
    );
    common::run(
        "swift view-model tests",
        &mut in_root(&swift.root, &inside.join("tmp"), &script),
        "see the failed tests or compile errors above",
    )
}

/// `script` run by `sh` inside the Swift root, with `/proc`, `/sys`, `/dev` and `/dev/pts`
/// mounted in a mount namespace of its own: the mounts are private to this run and vanish
/// with it (even if it is killed), so runs of the binding tests using the same root at the
/// same time neither see them nor unmount them.
fn in_root(root: &Path, tmp: &Path, script: &str) -> Command {
    let setup = "mount --make-rprivate / && \
                 mount -t proc proc \"$0/proc\" && mount -t sysfs sysfs \"$0/sys\" && \
                 mount --bind /dev \"$0/dev\" && mount --bind /dev/pts \"$0/dev/pts\" && \
                 exec chroot \"$0\" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root \
                 POSMATE_TEST_TMP=\"$1\" sh -c \"$2\"";
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c", setup])
        .arg(root)
        .arg(tmp)
        .arg(script);
    cmd
}

// ---- helpers --------------------------------------------------------------------------------

/// Copies `from` to `to` unless `to` already has the same bytes (its modification time
/// then stays, so incremental builds stay incremental).
fn sync_file(from: &Path, to: &Path) -> Result<(), String> {
    let new = fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    if fs::read(to).is_ok_and(|old| old == new) {
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
