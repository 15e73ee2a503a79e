//! A binary the integration test runs through `CARGO_BIN_EXE_hello`, like cove's cli tests run `cove`.
fn main() {
    println!("hello from the guest");
}
