// Package arch holds no code: its test checks the import rules that keep
// Vigil's layers apart (docs/architecture.md, "Packages"):
//
//   - the engine (journal, parse, index, detect, store, input, output,
//     alert, notify, lists) imports neither the service layer (service,
//     storage, auth) nor net/http's server side of the console (httpx,
//     api, console);
//   - service and storage never import net/http;
//   - only console (and web) import html/template;
//   - only cmd/ imports console and api: the front ends are wired there.
package arch
