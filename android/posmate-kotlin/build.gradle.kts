// The UniFFI-generated Kotlin bindings (generated at build time, never committed) and the
// idiomatic API over them (`app.posmate.kit`: Flows for scans and connection states,
// FlowRun for progress and cancel). Plain JVM, so the view models and their tests use it
// without Android; the `:posmate` AAR re-exports it.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

val cargoWorkspace = rootProject.extra["cargoWorkspace"] as File

kotlin {
    jvmToolchain(17)
}

/**
 * `cargo xtask bindings`: builds the host library (unstripped, so its UniFFI metadata can be
 * read) and writes Kotlin, Swift and Python into the workspace's target/bindings.
 */
val generateBindings by tasks.registering(Exec::class) {
    group = "posmate"
    description = "Generates the Kotlin bindings from the posmate-ffi library (cargo xtask bindings)."
    workingDir = cargoWorkspace
    commandLine("cargo", "xtask", "bindings")
    inputs.dir(cargoWorkspace.resolve("bindings/src"))
    inputs.file(cargoWorkspace.resolve("bindings/uniffi.toml"))
    outputs.dir(cargoWorkspace.resolve("target/bindings/kotlin"))
}

val copyBindings by tasks.registering(Sync::class) {
    group = "posmate"
    description = "Copies the generated Kotlin bindings into this module's generated sources."
    dependsOn(generateBindings)
    from(cargoWorkspace.resolve("target/bindings/kotlin"))
    into(layout.buildDirectory.dir("generated/uniffi/kotlin"))
}

sourceSets {
    main {
        kotlin.srcDir(copyBindings)
    }
}

dependencies {
    // JNA at compile time only: JVM users add the jar, Android apps get the AAR from :posmate
    // (the jar and the AAR on one classpath would clash).
    compileOnly(libs.jna)
    implementation(libs.kotlinx.coroutines.core)
}
