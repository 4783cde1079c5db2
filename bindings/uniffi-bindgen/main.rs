//! `cargo run -p posmate-uniffi-bindgen -- generate --library …`: UniFFI's generator at the
//! version the bindings are built with (`cargo xtask bindings` runs it).

fn main() {
    uniffi::uniffi_bindgen_main()
}
