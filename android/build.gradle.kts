plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.android.library) apply false
    alias(libs.plugins.kotlin.android) apply false
    alias(libs.plugins.kotlin.jvm) apply false
    alias(libs.plugins.kotlin.compose) apply false
}

// Coordinates of the modules, so an app's composite build (`includeBuild`) can depend on
// "app.posmate:posmate" and Gradle substitutes this project (docs/mobile.md).
subprojects {
    group = "app.posmate"
    version = "0.1.0"
}

/** The Rust workspace this Android project lives in. */
val cargoWorkspace: File = rootDir.parentFile
extra["cargoWorkspace"] = cargoWorkspace
