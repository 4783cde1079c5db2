// The thin Jetpack Compose app: screens over the view models, the Bluetooth permission flow
// and the simulated-terminal switch. No business logic lives here.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "app.posmate.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "app.posmate.app"
        minSdk = providers.gradleProperty("posmate.minSdk").getOrElse("26").toInt()
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // The acquirer API's base URL (posmate sends paths from /v1/…), for the Bluetooth backend
        // (the simulated ones need none).
        buildConfigField("String", "ACQUIRER_URL", "\"https://acquirer.example/posmate\"")
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation(project(":posmate"))
    implementation(project(":viewmodel"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
}
