// swift-tools-version:6.0
//
// PosmateKit: posmate's Swift API (the UniFFI-generated bindings plus async/await and
// AsyncStream wrappers) and the view models of the iOS app's screens.
//
// The native library comes from an XCFramework on Apple platforms (`./build-xcframework.sh`
// builds it, with the generated Swift, on a Mac with Xcode) and from a plain shared library
// on Linux, where `cargo xtask test` runs the view models' XCTest suite. The SwiftUI app is
// in `App/` and is not part of this package (it needs UIKit).
import PackageDescription

#if os(Linux)
// `libposmate_ffi.so` and the generated header, placed by `cargo xtask test`; link with
// `-Xlinker -L<folder of the library>`.
let ffi: Target = .systemLibrary(name: "posmate_ffiFFI", path: "Sources/posmate_ffiFFI")
#else
let ffi: Target = .binaryTarget(name: "posmate_ffiFFI", path: "posmate_ffiFFI.xcframework")
#endif

let package = Package(
    name: "PosmateKit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "PosmateKit", targets: ["PosmateKit"]),
        .library(name: "PosmateViewModels", targets: ["PosmateViewModels"]),
    ],
    targets: [
        ffi,
        .target(
            name: "PosmateKit",
            dependencies: ["posmate_ffiFFI"],
            // `Generated/posmate_ffi.swift` is written by the build scripts, never edited.
            // Swift 5 mode: Swift 6.0.3's region-based isolation checker crashes on the
            // generated async callback code (an assertion in TransferNonSendable).
            swiftSettings: [.swiftLanguageMode(.v5)],
            linkerSettings: [
                .linkedFramework("CoreBluetooth", .when(platforms: [.iOS, .macOS])),
                .linkedFramework("Security", .when(platforms: [.iOS, .macOS])),
            ]
        ),
        .target(name: "PosmateViewModels", dependencies: ["PosmateKit"]),
        .testTarget(name: "PosmateViewModelsTests", dependencies: ["PosmateViewModels", "PosmateKit"]),
    ]
)
