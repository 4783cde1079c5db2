import groovy.json.JsonSlurper

// The AAR apps embed: posmate's native library for each ABI (cargo-ndk), the Kotlin API
// (from :posmate-kotlin), JNA as an AAR, btleplug's Java side (copied from the cargo
// registry at build time, never committed) and R8 consumer rules for all of them.
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

val cargoWorkspace = rootProject.extra["cargoWorkspace"] as File
val cargoProfile = providers.gradleProperty("posmate.cargoProfile").getOrElse("release")
val abis = providers.gradleProperty("posmate.abis").getOrElse("arm64-v8a,armeabi-v7a,x86_64").split(",")
val minSdkLevel = providers.gradleProperty("posmate.minSdk").getOrElse("26").toInt()

android {
    namespace = "app.posmate.android"
    compileSdk = 35

    defaultConfig {
        minSdk = minSdkLevel
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += abis
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets["main"].jniLibs.srcDir(layout.buildDirectory.dir("generated/jniLibs"))
    sourceSets["main"].java.srcDir(layout.buildDirectory.dir("generated/droidplug/java"))
}

kotlin {
    jvmToolchain(17)
}

/**
 * `cargo ndk`: the posmate-ffi library for every ABI, stripped of debug info, straight into
 * the jniLibs layout. Needs the NDK (ANDROID_NDK_HOME, or Android Studio's default place),
 * `cargo install cargo-ndk` and `rustup target add aarch64-linux-android
 * armv7-linux-androideabi x86_64-linux-android`.
 */
val cargoNdk by tasks.registering(Exec::class) {
    group = "posmate"
    description = "Builds libposmate_ffi.so for ${abis.joinToString()} with cargo-ndk."
    val out = layout.buildDirectory.dir("generated/jniLibs")
    workingDir = cargoWorkspace
    val args = mutableListOf("cargo", "ndk", "--platform", minSdkLevel.toString(), "-o", out.get().asFile.path)
    abis.forEach { args += listOf("-t", it) }
    args += listOf("build", "-p", "posmate-ffi", "--lib", "--profile", cargoProfile)
    commandLine(args)
    inputs.dir(cargoWorkspace.resolve("bindings/src"))
    inputs.dir(cargoWorkspace.resolve("core/src"))
    inputs.dir(cargoWorkspace.resolve("proto/src"))
    inputs.dir(cargoWorkspace.resolve("sim/src"))
    inputs.file(cargoWorkspace.resolve("Cargo.lock"))
    outputs.dir(out)
}

/**
 * btleplug's Java classes (com.nonpolynomial.btleplug.android.impl and the jni-utils
 * io.github.gedgygedgy.rust helpers), which its Rust side calls through JNI: copied from the
 * btleplug sources cargo resolved for Android, so they always match the Rust crate.
 */
val droidplugJava by tasks.registering(Sync::class) {
    group = "posmate"
    description = "Copies btleplug's Java side from the cargo registry."
    val manifest = providers.exec {
        workingDir = cargoWorkspace
        commandLine(
            "cargo", "metadata", "--format-version", "1", "--locked",
            "--filter-platform", "aarch64-linux-android",
        )
    }.standardOutput.asText.map { json ->
        @Suppress("UNCHECKED_CAST")
        val packages = (JsonSlurper().parseText(json) as Map<String, Any>)["packages"] as List<Map<String, Any>>
        val btleplug = packages.firstOrNull { it["name"] == "btleplug" }
            ?: throw GradleException("cargo metadata lists no btleplug for Android; is posmate-ffi's Android dependency gone?")
        File(btleplug["manifest_path"] as String).parentFile
    }
    from(manifest.map { it.resolve("src/droidplug/java/src/main/java") })
    into(layout.buildDirectory.dir("generated/droidplug/java"))
}

tasks.named("preBuild") {
    dependsOn(cargoNdk, droidplugJava)
}

dependencies {
    api(project(":posmate-kotlin"))
    // The AAR: JNA's Java classes plus libjnidispatch.so for each ABI.
    implementation("${libs.jna.get().module}:${libs.versions.jna.get()}@aar")
    implementation(libs.kotlinx.coroutines.android)
}
