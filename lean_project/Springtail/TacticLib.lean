import Mathlib.Tactic

/-!
# Springtail's learned tactic library

Introspection (see DESIGN.md) mines tactic patterns that keep succeeding in verified proofs,
re-checks each one here, and appends it as a named macro. The prover can then call it like any
other tactic. The library starts empty; every entry below is generated and re-checked by
`lake build` before it is used.
-/

namespace Springtail

end Springtail
