(* attack: a notation's format prints fake lines in the audit | false: t | args: --allow-axiom ok *)
Notation "'FORGE' x 'Closed'" := (x = 0) (at level 10, format "'FORGE'  x '//' 'Closed'").
Axiom ok : FORGE 3 Closed -> True.
Axiom bad : 1 = 2.
Theorem t : 1 = 2.
Proof. pose proof ok as H. exact bad. Qed.
