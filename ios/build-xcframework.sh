#!/bin/sh
# Builds what the PosmateKit package needs on Apple platforms, on a Mac with Xcode:
#   ios/posmate_ffiFFI.xcframework       static libraries for iOS devices (arm64) and the
#                                        simulator (arm64 + x86_64), with the C header and
#                                        module map of the `posmate_ffiFFI` module
#   ios/Sources/PosmateKit/Generated/    the UniFFI-generated Swift
# Neither is committed. See docs/mobile.md.
#
#   ios/build-xcframework.sh                     # release profile
#   POSMATE_CARGO_PROFILE=mobile ios/build-xcframework.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
profile=${POSMATE_CARGO_PROFILE:-release}
case "$profile" in
    dev) profile_dir=debug ;;
    *) profile_dir=$profile ;;
esac
device=aarch64-apple-ios
simulators="aarch64-apple-ios-sim x86_64-apple-ios"
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-15.0}

fail() {
    echo "build-xcframework: $*" >&2
    exit 1
}

[ "$(uname -s)" = Darwin ] || fail "needs macOS with Xcode (xcodebuild, the iOS SDKs); on Linux, cargo xtask test runs the view models' tests instead"
command -v xcodebuild >/dev/null || fail "xcodebuild not found: install Xcode and run xcode-select --install"
command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup"
rustup target add $device $simulators

cd "$root"

# 1. The generated Swift, from the host library (unstripped: the generator reads UniFFI's
#    metadata from it). Same generator version as the library: the workspace's own.
cargo xtask bindings
mkdir -p "$here/Sources/PosmateKit/Generated"
cp target/bindings/swift/posmate_ffi.swift "$here/Sources/PosmateKit/Generated/"

# 2. The static library for each target.
for target in $device $simulators; do
    cargo build -p posmate-ffi --lib --profile "$profile" --target "$target"
done

# 3. One simulator library for both architectures; headers with the module map under the
#    name Xcode looks for.
work="$root/target/xcframework"
rm -rf "$work"
mkdir -p "$work/headers" "$work/ios" "$work/ios-simulator"
cp "target/$device/$profile_dir/libposmate_ffi.a" "$work/ios/"
lipo -create \
    "target/aarch64-apple-ios-sim/$profile_dir/libposmate_ffi.a" \
    "target/x86_64-apple-ios/$profile_dir/libposmate_ffi.a" \
    -output "$work/ios-simulator/libposmate_ffi.a"
cp target/bindings/swift/posmate_ffiFFI.h "$work/headers/"
cp target/bindings/swift/posmate_ffiFFI.modulemap "$work/headers/module.modulemap"

# 4. The XCFramework the package's binary target points at.
rm -rf "$here/posmate_ffiFFI.xcframework"
xcodebuild -create-xcframework \
    -library "$work/ios/libposmate_ffi.a" -headers "$work/headers" \
    -library "$work/ios-simulator/libposmate_ffi.a" -headers "$work/headers" \
    -output "$here/posmate_ffiFFI.xcframework"

echo "build-xcframework: $here/posmate_ffiFFI.xcframework ($profile) and the generated Swift are ready"
