//! The floor without std's start-up: `no_main`, as git-credential-kelos and
//! kelos-gh are built. It reads stdin to the end and exits 0, like the floor;
//! its row shows how much of the floor is std's runtime set-up, which the
//! helpers skip, so their ratio to the floor can be read with it.
#![no_main]

use std::ffi::c_int;
use std::io::{self, Read};

#[no_mangle]
extern "C" fn main() -> c_int {
    let mut input = Vec::new();
    let _ = io::stdin().lock().read_to_end(&mut input);
    0
}
