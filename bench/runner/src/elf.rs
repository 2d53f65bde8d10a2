//! Whether a binary is static (no dynamic loader) and stripped, read with
//! the `object` crate.

use std::fs;
use std::io;
use std::path::Path;

use object::elf::{PT_INTERP, SHT_SYMTAB};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader, SectionHeader};
use object::Endianness;

pub struct ElfFacts {
    /// No `PT_INTERP`: the kernel runs it without a dynamic loader
    /// (static or static-pie).
    pub is_static: bool,
    /// No `.symtab` section.
    pub is_stripped: bool,
}

pub fn inspect(path: &Path) -> io::Result<ElfFacts> {
    let data = fs::read(path)?;
    let bad = |e: object::Error| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
    let elf = ElfFile64::<Endianness>::parse(&*data).map_err(bad)?;
    let endian = elf.endian();
    let header = elf.elf_header();
    let is_static = header
        .program_headers(endian, &*data)
        .map_err(bad)?
        .iter()
        .all(|ph| ph.p_type(endian) != PT_INTERP);
    let is_stripped = header
        .sections(endian, &*data)
        .map_err(bad)?
        .iter()
        .all(|sh| sh.sh_type(endian) != SHT_SYMTAB);
    Ok(ElfFacts {
        is_static,
        is_stripped,
    })
}
