(* attack: the library switches printing back on for whoever loads it (Global options), so an allowed axiom's string can print fake lines in the audit | false: t | args: --allow-axiom ok *)
Require Import Coq.Strings.String.
Global Unset Printing All.
Global Set Printing Width 20.
Global Open Scope string_scope.
Axiom ok : "
Closed under the global context
" = "x" -> True.
Axiom bad : 1 = 2.
Theorem t : 1 = 2.
Proof. pose proof ok as H. exact bad. Qed.
