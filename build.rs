//! Records the target triple, so that `pgwait --version` can say what it was built for.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=PGWAIT_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
