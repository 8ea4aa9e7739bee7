package gitleakscheck

import (
	"encoding/base64"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lucasjones/reggen"
	"github.com/zricethezav/gitleaks/v8/cmd/generate/config/rules"
	"github.com/zricethezav/gitleaks/v8/cmd/generate/config/utils"
	"github.com/zricethezav/gitleaks/v8/config"
)

// ruleExamples are the true-positive examples of one gitleaks rule, as its generator in
// cmd/generate/config/rules validates them.
type ruleExamples struct {
	rule string
	tps  []string
	// err says why some examples could not be evaluated.
	err error
	// seed is the -seed that draws the same examples in the first round, so that a miss
	// found in a later round can be reproduced alone.
	seed int64
}

// loadExamples evaluates the tps of every rule generator in the gitleaks module's
// cmd/generate/config/rules, so that the examples come from the module at test time and
// are not copied into this repository. The generators are plain Go: string literals,
// concatenation, fmt.Sprintf, append and calls into gitleaks' utils and secrets
// packages, which this evaluator calls for real.
func loadExamples() ([]ruleExamples, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/zricethezav/gitleaks/v8").Output()
	if err != nil {
		return nil, fmt.Errorf("locate gitleaks module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "cmd", "generate", "config", "rules")
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	ev := &evaluator{pkg: map[string]ast.Expr{}, pkgVal: map[string]any{}}
	var funcs []*ast.FuncDecl
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				funcs = append(funcs, d)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok {
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								ev.pkg[n.Name] = vs.Values[i]
							}
						}
					}
				}
			}
		}
	}
	var all []ruleExamples
	for _, fd := range funcs {
		if fd.Body == nil {
			continue
		}
		all = append(all, ev.function(fd)...)
	}
	slices.SortFunc(all, func(a, b ruleExamples) int { return strings.Compare(a.rule, b.rule) })
	return all, nil
}

type evaluator struct {
	pkg    map[string]ast.Expr
	pkgVal map[string]any
}

// function evaluates one generator and returns the examples of each Validate call in it.
func (ev *evaluator) function(fd *ast.FuncDecl) []ruleExamples {
	env := map[string]any{}
	errs := map[string]error{}
	var rule string
	var out []ruleExamples
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Rule" {
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "RuleID" {
						if v, err := ev.expr(kv.Value, env); err == nil {
							rule, _ = v.(string)
						}
					}
				}
			}
		case *ast.AssignStmt:
			if len(n.Lhs) != len(n.Rhs) {
				return true
			}
			for i, l := range n.Lhs {
				id, ok := l.(*ast.Ident)
				if !ok {
					continue
				}
				v, err := ev.expr(n.Rhs[i], env)
				if err != nil {
					errs[id.Name] = err
					continue
				}
				env[id.Name] = v
			}
		case *ast.ValueSpec: // var ( name = … ) inside the function
			for i, id := range n.Names {
				if i >= len(n.Values) {
					continue
				}
				v, err := ev.expr(n.Values[i], env)
				if err != nil {
					errs[id.Name] = err
					continue
				}
				env[id.Name] = v
			}
		case *ast.RangeStmt, *ast.ForStmt:
			errs["tps"] = fmt.Errorf("loop at %v not evaluated", n.Pos())
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || len(n.Args) < 2 || sel.Sel.Name != "Validate" && sel.Sel.Name != "ValidateWithPaths" {
				return true
			}
			id, ok := n.Args[1].(*ast.Ident)
			if !ok {
				return true
			}
			re := ruleExamples{rule: rule, err: errs[id.Name]}
			switch v := env[id.Name].(type) {
			case []string:
				re.tps = v
			case map[string]string:
				for _, k := range slices.Sorted(mapKeys(v)) {
					re.tps = append(re.tps, v[k])
				}
			}
			out = append(out, re)
		}
		return true
	})
	return out
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// generators are the functions of gitleaks that examples are built with.
var generators = map[string]func(args []string) any{
	"utils.Numeric":                   func(a []string) any { return utils.Numeric(a[0]) },
	"utils.Hex":                       func(a []string) any { return utils.Hex(a[0]) },
	"utils.AlphaNumeric":              func(a []string) any { return utils.AlphaNumeric(a[0]) },
	"utils.AlphaNumericExtendedShort": func(a []string) any { return utils.AlphaNumericExtendedShort(a[0]) },
	"utils.AlphaNumericExtended":      func(a []string) any { return utils.AlphaNumericExtended(a[0]) },
	"utils.AlphaNumericExtendedLong":  func(a []string) any { return utils.AlphaNumericExtendedLong(a[0]) },
	"utils.Hex8_4_4_4_12":             func(a []string) any { return utils.Hex8_4_4_4_12() },
	"utils.GenerateSampleSecret":      func(a []string) any { return utils.GenerateSampleSecret(a[0], a[1]) },
	"utils.GenerateSampleSecrets":     func(a []string) any { return utils.GenerateSampleSecrets(a[0], a[1]) },
	"secrets.NewSecret":               func(a []string) any { return newSecret(a[0]) },
	"newPlausibleSecret":              func(a []string) any { return newPlausibleSecret(a[0]) },
	"generateTestValues":              func([]string) any { return jwtBase64Values() },
	"base64.StdEncoding.EncodeToString": func(a []string) any {
		return base64.StdEncoding.EncodeToString([]byte(a[0]))
	},
	"strings.Repeat": func(a []string) any {
		n, _ := strconv.Atoi(a[1])
		return strings.Repeat(a[0], n)
	},
}

// secretSeed seeds the next secret newSecret draws: every run draws the same examples,
// so that a miss is reproducible; -seed and -rounds explore others.
var secretSeed = flag.Int64("seed", 1, "seed of the first randomly generated example; each next one takes the next seed")

// newSecret is gitleaks' secrets.NewSecret (reggen on the rule's regular expression),
// seeded from secretSeed instead of the clock.
func newSecret(re string) string {
	g, err := reggen.NewGenerator(re)
	if err != nil {
		panic(err)
	}
	g.SetSeed(*secretSeed)
	*secretSeed++
	return g.Generate(1)
}

// stopWords are the words that newPlausibleSecret keeps out of a secret.
var stopWords = &config.Allowlist{StopWords: rules.DefaultStopWords}

// newPlausibleSecret is the function of that name in gitleaks' generic rule: a secret of
// the regular expression with a digit from 1 to 9 and no stop word.
func newPlausibleSecret(re string) string {
	for {
		s := newSecret(re)
		if !strings.ContainsAny(s, "123456789") {
			continue
		}
		if ok, _ := stopWords.ContainsStopWord(s); !ok {
			return s
		}
	}
}

// jwtBase64Values stands for generateTestValues of gitleaks' jwt-base64 rule, whose loops
// the evaluator does not run: the RFC 7519 example JWT under some of the header
// parameters it uses, each base64-encoded again in the four encodings.
func jwtBase64Values() []string {
	const suffix = ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	var out []string
	for _, h := range []string{`{"alg":"HS256"}`, `{"alg":"RS512"}`, `{"alg":"none"}`, `{"typ":"JWT"}`,
		`{"kid":"my_key_id"}`, `{"enc":"A256GCM"}`, `{"iss":"kubernetes/serviceaccount"}`, `{"x5t":"IYIeevIT57t8ppUejM42Bqx6f3I"}`} {
		jwt := []byte(base64.RawURLEncoding.EncodeToString([]byte(h)) + suffix)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString(jwt))
		}
	}
	return out
}

// selectorName returns the dotted name of a function such as base64.StdEncoding.EncodeToString.
func selectorName(x ast.Expr) string {
	switch x := x.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return selectorName(x.X) + "." + x.Sel.Name
	}
	return fmt.Sprintf("%T", x)
}

// expr evaluates x to a string, a []string or a map[string]string.
func (ev *evaluator) expr(x ast.Expr, env map[string]any) (any, error) {
	switch x := x.(type) {
	case *ast.BasicLit:
		if x.Kind == token.INT {
			return x.Value, nil
		}
		if x.Kind != token.STRING {
			return nil, fmt.Errorf("literal %s", x.Value)
		}
		return strconv.Unquote(x.Value)
	case *ast.ParenExpr:
		return ev.expr(x.X, env)
	case *ast.Ident:
		if v, ok := env[x.Name]; ok {
			return v, nil
		}
		if v, ok := ev.pkgVal[x.Name]; ok {
			return v, nil
		}
		if e, ok := ev.pkg[x.Name]; ok {
			v, err := ev.expr(e, map[string]any{})
			if err != nil {
				return nil, err
			}
			ev.pkgVal[x.Name] = v
			return v, nil
		}
		return nil, fmt.Errorf("unknown name %s", x.Name)
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return nil, fmt.Errorf("operator %s", x.Op)
		}
		a, err := ev.str(x.X, env)
		if err != nil {
			return nil, err
		}
		b, err := ev.str(x.Y, env)
		if err != nil {
			return nil, err
		}
		return a + b, nil
	case *ast.CompositeLit:
		switch t := x.Type.(type) {
		case *ast.ArrayType:
			var l []string
			for _, e := range x.Elts {
				s, err := ev.str(e, env)
				if err != nil {
					return nil, err
				}
				l = append(l, s)
			}
			return l, nil
		case *ast.MapType:
			m := map[string]string{}
			for _, e := range x.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					return nil, fmt.Errorf("map element")
				}
				k, err := ev.str(kv.Key, env)
				if err != nil {
					return nil, err
				}
				if m[k], err = ev.str(kv.Value, env); err != nil {
					return nil, err
				}
			}
			return m, nil
		default:
			return nil, fmt.Errorf("composite %T", t)
		}
	case *ast.CallExpr:
		if _, ok := x.Fun.(*ast.ArrayType); ok && len(x.Args) == 1 { // []byte(s)
			return ev.expr(x.Args[0], env)
		}
		name := selectorName(x.Fun)
		if name == "append" {
			base, _ := env[fmt.Sprint(x.Args[0])].([]string)
			l := slices.Clone(base)
			for i, a := range x.Args[1:] {
				v, err := ev.expr(a, env)
				if err != nil {
					return nil, err
				}
				switch v := v.(type) {
				case string:
					l = append(l, v)
				case []string:
					if x.Ellipsis == token.NoPos || i != len(x.Args)-2 {
						return nil, fmt.Errorf("append of a slice")
					}
					l = append(l, v...)
				}
			}
			return l, nil
		}
		var args []string
		var anys []any
		for _, a := range x.Args {
			v, err := ev.expr(a, env)
			if err != nil {
				return nil, err
			}
			s, _ := v.(string)
			args = append(args, s)
			anys = append(anys, v)
		}
		if name == "fmt.Sprintf" {
			return fmt.Sprintf(args[0], anys[1:]...), nil
		}
		g, ok := generators[name]
		if !ok {
			return nil, fmt.Errorf("unknown function %s", name)
		}
		return g(args), nil
	}
	return nil, fmt.Errorf("expression %T", x)
}

func (ev *evaluator) str(x ast.Expr, env map[string]any) (string, error) {
	v, err := ev.expr(x, env)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%T is not a string", v)
	}
	return s, nil
}
