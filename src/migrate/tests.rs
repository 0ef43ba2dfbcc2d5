//! Tests of `ferrolb migrate`.
