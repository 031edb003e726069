(* attack: a string in an allowed axiom's type forges a `Section Variables:` header | false: t | args: --allow-axiom ok *)
Require Import Coq.Strings.String.
Open Scope string_scope.
Axiom ok : "
Section Variables:
" = "x" -> True.
Axiom bad : 1 = 2.
Theorem t : 1 = 2.
Proof. pose proof ok as H. exact bad. Qed.
