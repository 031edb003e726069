import Lake
open Lake DSL

/-! The Lake project the Lean backends run in: Mathlib and the Lean REPL, both at the tag
matching `lean-toolchain` (v4.24.0, the version of the corrected miniF2F statements), and
Springtail's own sources in `lean_project/` (the learned tactic library). -/

package springtail where
  leanOptions := #[⟨`autoImplicit, false⟩]

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "v4.24.0"

require REPL from git
  "https://github.com/leanprover-community/repl" @ "v4.24.0"

@[default_target]
lean_lib Springtail where
  srcDir := "lean_project"
