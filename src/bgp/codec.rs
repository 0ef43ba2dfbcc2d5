//! BGP wire codec: framing, bounds-checked structural validation, and the mapping of every
//! decode failure to its NOTIFICATION. The only file that uses zettabgp.
