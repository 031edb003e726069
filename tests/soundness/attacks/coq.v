(* attack: a file named coq.v (lower case) with a module Logic.Classical_Prop declaring classic : 1 = 2, under --allow-axioms classical: kernel names are case-sensitive, so it is not the standard library's | false: t | args: --allow-axioms classical *)
Module Logic.
Module Classical_Prop.
Axiom classic : 1 = 2.
End Classical_Prop.
End Logic.
Theorem t : 1 = 2.
Proof. exact Logic.Classical_Prop.classic. Qed.
