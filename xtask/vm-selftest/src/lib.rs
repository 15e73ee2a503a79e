//! Library half of the VM self-test: proves that plain unit tests run in the guest too.

/// A value the unit test checks.
pub fn answer() -> u32 {
    42
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_tests_run_in_the_guest() {
        assert_eq!(super::answer(), 42);
    }
}
