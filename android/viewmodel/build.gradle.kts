// The screens' state machines: plain Kotlin + coroutines, no Android. The app wraps each in
// an androidx ViewModel; `viewModelTests` runs them against posmate's simulated mode on the
// JVM with the host library (the same suite `cargo xtask test` runs with kotlinc).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

val cargoWorkspace = rootProject.extra["cargoWorkspace"] as File

kotlin {
    jvmToolchain(17)
}

dependencies {
    api(project(":posmate-kotlin"))
    api(libs.kotlinx.coroutines.core)
    testImplementation(libs.kotlin.test)
    testRuntimeOnly(libs.jna)
}

/** The suite is a program (it prints "N passed, M failed" and exits non-zero on failure). */
val viewModelTests by tasks.registering(JavaExec::class) {
    group = "verification"
    description = "Runs the view-model suite against the simulated mode (host library from cargo xtask bindings)."
    dependsOn(":posmate-kotlin:generateBindings")
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("app.posmate.viewmodel.ViewModelTestsKt")
    systemProperty("jna.library.path", cargoWorkspace.resolve("target/debug").path)
    environment("POSMATE_TEST_TMP", layout.buildDirectory.dir("tmp/viewModelTests").get().asFile.path)
}

tasks.named("check") {
    dependsOn(viewModelTests)
}
