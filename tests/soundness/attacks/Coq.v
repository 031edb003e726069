(* attack: a file named Coq.v is the library Coq, so its module Logic.Classical_Prop's axiom 1 = 2 has the kernel name of the standard library's excluded middle, which --allow-axioms classical allows | false: t | args: --allow-axioms classical | exit: 2 *)
Module Logic.
Module Classical_Prop.
Axiom classic : 1 = 2.
End Classical_Prop.
End Logic.
Theorem t : 1 = 2.
Proof. exact Logic.Classical_Prop.classic. Qed.
