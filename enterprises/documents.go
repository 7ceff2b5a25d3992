package enterprises

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"image"
	_ "image/jpeg" // decode uploaded ID and licence photos
	_ "image/png"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"signet/audit"
	"signet/ent"
	"signet/ent/certdocument"
	"signet/ent/certorder"
	"signet/errs"
	"signet/jobs"
	"signet/viewer"
)

// DocumentKind is a kind of application document.
type DocumentKind struct {
	Kind  certdocument.Kind
	Title string
}

// DocumentKinds are the documents an application needs (证件照片提交).
var DocumentKinds = []DocumentKind{
	{certdocument.KindAuthorizationLetter, "加盖单位公章和相关人员签字的《法人授权委托书》"},
	{certdocument.KindBusinessLicense, "营业执照副本或复印件"},
	{certdocument.KindApplicantIDFront, "经办人身份证人像面照片"},
	{certdocument.KindApplicantIDBack, "经办人身份证国徽面照片"},
}

// Upload limits.
const (
	MaxDocumentSize   = 5 << 20 // 5 MiB
	MinImageDimension = 300     // pixels on the shorter side: smaller scans are unreadable
)

// Upload is an uploaded file.
type Upload struct {
	Kind     certdocument.Kind
	FileName string
	Data     []byte
}

// UploadDocumentFrom is UploadDocument reading the file from r (a multipart
// part of POST /files/enterprise-orders/{id}/documents/{kind}); more than
// MaxDocumentSize bytes are refused without reading further.
func (s *Service) UploadDocumentFrom(ctx context.Context, orderID int, kind, fileName string, r io.Reader) (*ent.CertDocument, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "上传内容不完整，请重新上传")
	}
	return s.UploadDocument(ctx, orderID, Upload{Kind: certdocument.Kind(kind), FileName: fileName, Data: data})
}

// UploadDocument stores one application document in the blob store,
// replacing an earlier one of the same kind. Accepted: JPEG or PNG photos
// (at least 300 pixels on the shorter side) and, for the authorisation
// letter and the licence, PDF; at most 5 MiB. The type is taken from the
// content, not the name.
func (s *Service) UploadDocument(ctx context.Context, orderID int, up Upload) (*ent.CertDocument, error) {
	o, _, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepDocuments {
		return nil, stepConflict(o)
	}
	if certdocument.KindValidator(up.Kind) != nil {
		return nil, errs.InvalidField("kind", "不支持的材料类型")
	}
	ct, err := checkDocument(up)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(up.Data)
	name := path.Base(strings.ReplaceAll(strings.TrimSpace(up.FileName), "\\", "/"))
	if name == "" || name == "." || name == "/" {
		name = string(up.Kind)
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	// The content first (content-addressed: a retry stores nothing new),
	// then the row that points at it.
	info, err := s.blobs.PutContent(ctx, bytes.NewReader(up.Data))
	if err != nil {
		return nil, fmt.Errorf("upload document: store: %w", err)
	}
	if info.SHA256 != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("upload document: blob store digest %s, want %x", info.SHA256, sum)
	}
	sys := viewer.System(ctx)
	var id int
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		var err error
		id, err = tx.CertDocument.Create().SetOrderID(o.ID).SetKind(up.Kind).SetFileName(name).
			SetContentType(ct).SetSize(len(up.Data)).SetSha256(info.SHA256).SetBlobKey(info.Key).
			OnConflictColumns(certdocument.FieldOrderID, certdocument.FieldKind).
			Update(func(u *ent.CertDocumentUpsert) {
				u.UpdateFileName().UpdateContentType().UpdateSize().UpdateSha256().UpdateBlobKey().ClearData().UpdateUpdatedAt()
			}).ID(sys)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: o.EnterpriseID, Action: audit.CertDocumentUploaded, Subject: subjectOrder(o.ID),
			Payload: map[string]any{"document_id": id, "kind": up.Kind, "sha256": info.SHA256, "size": len(up.Data), "content_type": ct},
			Users:   []int{o.ApplicantID}})
	})
	if err != nil {
		return nil, fmt.Errorf("upload document: %w", err)
	}
	return s.db.CertDocument.Get(sys, id)
}

// DocumentContent opens an application document of one of the viewer's
// orders (GET /files/enterprise-documents/{id}). Documents of other users'
// orders are not found.
func (s *Service) DocumentContent(ctx context.Context, documentID int) (*ent.CertDocument, io.ReadCloser, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.db.CertDocument.Query().Where(certdocument.ID(documentID),
		certdocument.HasOrderWith(certorder.ApplicantID(uid))).Only(viewer.System(ctx))
	if err != nil {
		return nil, nil, notFound(err, "材料不存在")
	}
	if d.BlobKey == "" {
		// Uploaded before documents moved to the blob store.
		return d, io.NopCloser(bytes.NewReader(d.Data)), nil
	}
	rc, err := s.blobs.Get(ctx, d.BlobKey)
	if err != nil {
		return nil, nil, fmt.Errorf("document %d: %w", d.ID, err)
	}
	return d, rc, nil
}

func checkDocument(up Upload) (string, error) {
	if len(up.Data) == 0 {
		return "", errs.InvalidField("file", "文件为空，请重新上传")
	}
	if len(up.Data) > MaxDocumentSize {
		return "", errs.InvalidField("file", "文件不能超过5MB")
	}
	ct := http.DetectContentType(up.Data)
	switch ct {
	case "image/jpeg", "image/png":
		cfg, _, err := image.DecodeConfig(bytes.NewReader(up.Data))
		if err != nil {
			return "", errs.InvalidField("file", "图片已损坏，请重新上传")
		}
		if min(cfg.Width, cfg.Height) < MinImageDimension {
			return "", errs.InvalidField("file", fmt.Sprintf("图片太小（至少%d像素），请上传清晰的照片", MinImageDimension))
		}
		return ct, nil
	case "application/pdf":
		if up.Kind == certdocument.KindApplicantIDFront || up.Kind == certdocument.KindApplicantIDBack {
			return "", errs.InvalidField("file", "身份证照片请上传JPG或PNG图片")
		}
		if !bytes.Contains(up.Data[max(0, len(up.Data)-1024):], []byte("%%EOF")) {
			return "", errs.InvalidField("file", "PDF文件不完整，请重新上传")
		}
		return ct, nil
	}
	return "", errs.InvalidField("file", "仅支持JPG、PNG图片或PDF文件")
}

// Documents lists the uploaded documents of one of the viewer's orders.
func (s *Service) Documents(ctx context.Context, orderID int) ([]*ent.CertDocument, error) {
	o, _, err := s.applicantOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	return o.QueryDocuments().Order(ent.Asc(certdocument.FieldKind)).All(viewer.System(ctx))
}

var letterTemplate = template.Must(template.New("letter").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>法人授权委托书</title>
<style>body{font-family:serif;max-width:700px;margin:40px auto;line-height:2}h1{text-align:center}</style></head>
<body><h1>法人授权委托书</h1>
<p>致：数字证书认证机构</p>
<p>兹授权 <u>{{.Applicant}}</u>（身份证号：<u>{{.ApplicantID}}</u>）作为本单位经办人，代表本单位办理
<u>{{.Name}}</u>（统一社会信用代码：<u>{{.Code}}</u>）企业数字证书的申请、领取及相关事宜。
经办人在办理上述事项过程中所签署的有关文件，本单位均予以承认。</p>
<p>授权期限：自签署之日起至证书申请办理完毕之日止。</p>
<p style="margin-top:60px">法定代表人（签字）：{{.LegalRep}}</p>
<p>经办人（签字）：</p>
<p>单位（盖章）：</p>
<p>日期：　　年　　月　　日</p>
</body></html>`))

// AuthorizationLetter returns the 《法人授权委托书》 template for an order,
// filled in with the enterprise's and applicant's details, as a printable
// HTML document: print, sign, stamp, photograph and upload it.
func (s *Service) AuthorizationLetter(ctx context.Context, orderID int) ([]byte, error) {
	o, e, err := s.applicantOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	applicant, id := o.ApplicantName, o.ApplicantIDMasked
	if applicant == "" {
		applicant, id = "　　　　", "　　　　　　　　　　"
	}
	var b bytes.Buffer
	err = letterTemplate.Execute(&b, map[string]string{
		"Name": e.Name, "Code": e.CreditCode, "LegalRep": e.LegalRepName, "Applicant": applicant, "ApplicantID": id,
	})
	return b.Bytes(), err
}

// DocumentPath is where an application document is downloaded.
func DocumentPath(documentID int) string {
	return "/files/enterprise-documents/" + strconv.Itoa(documentID)
}
