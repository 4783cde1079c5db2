// posmate's Android shell. The Rust workspace is the parent folder: the library module
// builds the native library with cargo-ndk and the bindings with `cargo xtask bindings`.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "posmate-android"

// The generated Kotlin bindings and the idiomatic API over them (plain JVM).
include(":posmate-kotlin")
// The AAR apps embed: native libraries per ABI, JNA, btleplug's Java side, R8 rules.
include(":posmate")
// The screens' state machines (plain Kotlin + coroutines), tested on the JVM.
include(":viewmodel")
// The thin Jetpack Compose app.
include(":app")
