(* Stands in for a hostile plugin: it only proves it ran. *)
let () = prerr_endline "SPRINGTAIL-TEST: a project plugin ran inside Coq"; exit 0
