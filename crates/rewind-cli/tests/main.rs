//! Integration tests, in one binary: the library end to end and the real `rewind` program.

mod cases;
