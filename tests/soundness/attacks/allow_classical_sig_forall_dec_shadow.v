(* attack: the file declares an axiom named sig_forall_dec inside a module ClassicalDedekindReals, after loading the real one, and uses it, under --allow-axioms classical | false: t | args: --allow-axioms classical *)
Require Import Coq.Reals.ClassicalDedekindReals.
Module ClassicalDedekindReals.
Axiom sig_forall_dec : 1 = 2.
End ClassicalDedekindReals.
Theorem t : 1 = 2.
Proof. exact ClassicalDedekindReals.sig_forall_dec. Qed.
