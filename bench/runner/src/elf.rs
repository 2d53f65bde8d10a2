//! Just enough ELF reading to tell a static binary from a dynamic one and a
//! stripped one from one with a symbol table.

use std::fs;
use std::io;
use std::path::Path;

pub struct ElfFacts {
    /// No `PT_INTERP`: the kernel runs it without a dynamic loader
    /// (static or static-pie).
    pub is_static: bool,
    /// No `.symtab` section.
    pub is_stripped: bool,
}

pub fn inspect(path: &Path) -> io::Result<ElfFacts> {
    let data = fs::read(path)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a 64-bit little-endian ELF");
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Err(bad());
    }
    let u16_at = |o: usize| -> io::Result<u64> {
        let b = data.get(o..o + 2).ok_or_else(bad)?;
        Ok(u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let u32_at = |o: usize| -> io::Result<u64> {
        let b = data.get(o..o + 4).ok_or_else(bad)?;
        Ok(u64::from(u32::from_le_bytes(b.try_into().unwrap())))
    };
    let u64_at = |o: usize| -> io::Result<u64> {
        let b = data.get(o..o + 8).ok_or_else(bad)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    };
    let as_usize = |v: u64| usize::try_from(v).map_err(|_| bad());

    let phoff = as_usize(u64_at(32)?)?;
    let shoff = as_usize(u64_at(40)?)?;
    let phentsize = as_usize(u16_at(54)?)?;
    let phnum = as_usize(u16_at(56)?)?;
    let shentsize = as_usize(u16_at(58)?)?;
    let shnum = as_usize(u16_at(60)?)?;

    const PT_INTERP: u64 = 3;
    const SHT_SYMTAB: u64 = 2;
    let mut is_static = true;
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize)? == PT_INTERP {
            is_static = false;
        }
    }
    let mut is_stripped = true;
    for i in 0..shnum {
        if u32_at(shoff + i * shentsize + 4)? == SHT_SYMTAB {
            is_stripped = false;
        }
    }
    Ok(ElfFacts {
        is_static,
        is_stripped,
    })
}
